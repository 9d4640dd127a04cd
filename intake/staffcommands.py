"""A staff answer's text: commands on its first lines, the quoted notification cut (R20).

Pure functions of the text. Commands are recognised only on the answer's first non-empty lines,
one per line (``#close``, ``#note``, ``#category NAME``, ``#split``, ``#time 1.5h``,
``#cause customer|ours|third-party``, ``#canned NAME``, and for the desk ``#take``,
``#assign EMAIL``, ``#force``); the first line that is not a command starts the answer. An
unknown command, or a known one with a bad argument, is an error: nothing of the answer is acted
on or relayed (the staff member is told why).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from intake.filelimits import AttachedFile
from intake.labels import CATEGORY_LABELS, CAUSE_LABELS

CATEGORIES = ("general", "setup", "operation", "fault", "license", "out_of_scope", "other")
CAUSES = ("customer", "ours", "third-party")
_COMMAND = re.compile(r"#([a-z-]+)(?:\s+(.*))?", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_HOURS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hours?|時間)", re.IGNORECASE)
_MINUTES = re.compile(r"(\d+)\s*(?:m|min|mins|minutes?|分)", re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"(wrote:|のメール:|書きました|<[^>]+@[^>]+>.*[:：]$"
    r"|^-+\s*(Original Message|元のメッセージ)\s*-+$)",
    re.IGNORECASE,
)
# Outlook quotes without ">": a header block (From:, Sent:, To:, Subject:) above the quote.
_QUOTE_HEADER = re.compile(
    r"^(From|Sent|Date|To|Cc|Subject|差出人|送信者|送信日時|日時|宛先|件名)\s*[:：]", re.IGNORECASE
)


class CommandError(ValueError):
    """A command the answer cannot be acted on with; the message is shown to the staff member:
    ``str()`` on the command line, ``ja`` in staff mail and on the dashboard (Japanese)."""

    def __init__(self, message: str, ja: str | None = None) -> None:
        super().__init__(message)
        self.ja = ja or message


def reason_ja(error: Exception) -> str:
    """Why an answer was not acted on, in Japanese when the error has it."""
    return getattr(error, "ja", None) or str(error)


def _aliases(labels: dict[str, str]) -> dict[str, str]:
    """Each name, its Japanese label and each part of the label (``障害`` of ``不具合・障害``)."""
    found: dict[str, str] = {}
    for name, text in labels.items():
        for alias in (name, text, *text.split("・"), text.removesuffix("側")):
            found.setdefault(unicodedata.normalize("NFKC", alias).lower(), name)
    return found


_CATEGORY_ALIASES = _aliases(CATEGORY_LABELS)
_CAUSE_ALIASES = _aliases(CAUSE_LABELS)


@dataclass
class StaffAnswer:
    """What a staff member's mail asks for: commands, and the text for the customer."""

    text: str
    close: bool = False
    note: bool = False
    split: bool = False
    category: str | None = None
    cause: str | None = None
    minutes: int = 0
    take: bool = False  # assign the incident to the one who wrote
    assign: str | None = None  # assign it to this staff address
    force: bool = False  # relay even if someone else answered first
    commands: list[str] = field(default_factory=list)
    canned: list[str] = field(default_factory=list)  # ``#canned NAME``: filled by intake.canned
    # Files for the customer (an answer) or kept with the note; approval rules look here.
    attachments: list[AttachedFile] = field(default_factory=list)

    @property
    def has_attachments(self) -> bool:
        return bool(self.attachments)

    @property
    def answers_customer(self) -> bool:
        """Words for the customer (its own, or ``#canned`` alone): what the double-answer
        check looks at. Notes and splits are not answers."""
        return bool(self.text or self.canned) and not (self.note or self.split)


def parse_answer(body: str, marker: str | None = None) -> StaffAnswer:
    """The commands on the first lines and the answer below them, the notification cut."""
    text = strip_notification(body, marker)
    lines = text.splitlines()
    answer = StaffAnswer(text="")
    start = 0
    for start, raw in enumerate(lines):  # noqa: B007 - the index is used after the loop
        line = unicodedata.normalize("NFKC", raw).strip()
        if not line:
            continue
        match = _COMMAND.fullmatch(line)
        if match is None:
            break
        _apply(answer, match.group(1).lower(), (match.group(2) or "").strip())
        answer.commands.append(line)
    else:
        start = len(lines)
    answer.text = "\n".join(lines[start:]).strip("\n")
    return answer


def _apply(answer: StaffAnswer, name: str, argument: str) -> None:
    if name in ("close", "note", "split", "take", "force"):
        if argument:
            raise CommandError(
                f"#{name} takes no argument (got {argument!r})",
                f"#{name} のあとには何も書けません（「{argument}」と書かれていました）。",
            )
        setattr(answer, name, True)
    elif name == "category":
        answer.category = _named("category", "分類", argument, CATEGORY_LABELS, _CATEGORY_ALIASES)
    elif name == "cause":
        answer.cause = _named("cause", "原因", argument, CAUSE_LABELS, _CAUSE_ALIASES)
    elif name == "assign":
        if not _EMAIL.fullmatch(argument):
            raise CommandError(
                f"#assign {argument!r}: give a staff member's email address",
                "#assign のあとには担当者のメールアドレスを書いてください"
                f"（「{argument}」と書かれていました）。",
            )
        answer.assign = argument.lower()
    elif name == "time":
        answer.minutes += parse_minutes(argument)
    elif name == "canned":
        if not argument:
            raise CommandError(
                "#canned needs the name of a canned answer (#canned NAME)",
                "#canned のあとには定型文の名前を書いてください（#canned 名前）。",
            )
        answer.canned.append(argument)
    else:
        raise CommandError(
            f"#{name}: unknown command (known: #close #note #category #split #time #cause"
            " #canned #take #assign #force #cancel #approve #return)",
            f"#{name} というコマンドはありません。"
            "使えるのは #close #note #category #split #time #cause #canned #take #assign #force"
            " #cancel #approve #return です。",
        )


def _named(
    name: str, what: str, argument: str, labels: dict[str, str], aliases: dict[str, str]
) -> str:
    """The stored name an argument stands for (``障害`` → ``fault``)."""
    found = aliases.get(unicodedata.normalize("NFKC", argument).lower())
    if found is None:
        raise CommandError(
            f"#{name} {argument!r}: use one of {', '.join(labels)}",
            f"#{name} の{what}「{argument}」がわかりません。"
            f"使える{what}: {'、'.join(labels.values())}",
        )
    return found


def parse_minutes(text: str) -> int:
    """``1.5h``, ``90m``, ``1h30m``, ``1時間30分`` → minutes (R23: time worked)."""
    rest = text.replace(" ", "")
    total = 0.0
    found = False
    for pattern, factor in ((_HOURS, 60), (_MINUTES, 1)):
        match = pattern.search(rest)
        if match:
            total += float(match.group(1)) * factor
            rest = rest[: match.start()] + rest[match.end() :]
            found = True
    if not found or rest or total <= 0:
        raise CommandError(
            f"#time {text!r}: give the time worked as 1.5h, 90m or 1h30m",
            f"#time の作業時間「{text}」が読めません。30分、1時間30分、1.5時間 のように"
            "書いてください。",
        )
    return math.ceil(total)


def strip_notification(body: str, marker: str | None = None) -> str:
    """The staff member's own words: everything from the notification's marker line down is
    cut, with the mail client's attribution line ("… wrote:") and quoted (``>``) lines before
    it; trailing quoted lines are cut too. The staff member's name and signature stay."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if marker:
        for index, line in enumerate(lines):
            if marker in line:
                lines = lines[:index]
                break
    while lines and (not lines[-1].strip() or _quoted_tail(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip("\n")


def _quoted_tail(line: str) -> bool:
    stripped = line.strip()
    return (
        stripped.startswith((">", "＞"))
        or bool(_ATTRIBUTION.search(stripped))
        or bool(_QUOTE_HEADER.match(stripped))
    )
