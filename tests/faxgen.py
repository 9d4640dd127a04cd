"""Synthetic fax pages for the R11 (fax-to-mail) OCR tests and the OCR benchmark.

A page is Japanese text rendered with a Debian CJK font on an A4 sheet, thresholded to 1 bit
like a fax, with salt-and-pepper noise and an optional slight skew. ``dpi=(200, 100)`` gives a
standard-resolution fax (half the vertical resolution: every pixel is twice as tall as wide),
``dpi=(200, 200)`` a 'fine' one. ``fax_tiff`` packs pages as a multi-page CCITT G4 TIFF (what fax
gateways mail), ``fax_pdf`` as a PDF with one page image per page (what an MFP mails).
"""

from __future__ import annotations

import functools
import io
import random
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

A4_MM = (210.0, 297.0)
MM_PER_INCH = 25.4

#: Debian paths tried after fontconfig (fonts-ipafont-gothic, fonts-noto-cjk, fonts-ipaexfont).
KNOWN_CJK_FONTS = (
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
)

#: A typical fax cover page (sample values, not real ones).
SAMPLE_COVER = [
    "FAX送信票",
    "株式会社ウケツケ サポートセンター 御中",
    "社名: 株式会社サンプル商事",
    "氏名: 山田 太郎",
    "ドメイン名: example.co.jp",
    "顧客番号: C0123-4567",
    "お問い合わせ内容",
    "ログイン画面でパスワードを入力してもエラーになります。",
    "至急ご確認をお願いいたします。",
    "FAX: 03-1234-5678",
]


class NoCjkFont(RuntimeError):
    """No Japanese-capable font is installed (install fonts-ipafont-gothic or fonts-noto-cjk)."""


@functools.cache
def find_cjk_font() -> str:
    """Path of a font that covers Japanese: fontconfig first, then known Debian paths."""
    candidates: list[str] = []
    if shutil.which("fc-match"):
        for pattern in ("IPAGothic:lang=ja", "Noto Sans CJK JP:lang=ja", ":lang=ja"):
            try:
                out = subprocess.run(
                    ["fc-match", "-f", "%{file}", pattern],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                continue
            if out:
                candidates.append(out)
    candidates.extend(KNOWN_CJK_FONTS)
    for path in candidates:
        if Path(path).is_file() and _covers_japanese(path):
            return path
    raise NoCjkFont("no Japanese font found; apt-get install fonts-ipafont-gothic")


def _covers_japanese(path: str) -> bool:
    """True if the font draws 顧 differently from a missing glyph (fc-match may fall back)."""
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    probe = font.getmask("顧").getbbox()
    tofu = font.getmask("\U0010fffd").getbbox()
    return probe is not None and probe != tofu


def a4_size(dpi: tuple[int, int]) -> tuple[int, int]:
    """Pixel size of an A4 page at ``dpi`` (x, y)."""
    return (
        round(A4_MM[0] / MM_PER_INCH * dpi[0]),
        round(A4_MM[1] / MM_PER_INCH * dpi[1]),
    )


def render_fax_page(
    lines: list[str],
    *,
    dpi: tuple[int, int] = (200, 200),
    noise: float = 0.002,
    seed: int = 0,
    skew: float = 0.0,
    font_pt: float = 12.0,
    font_path: str | None = None,
    threshold: int = 160,
) -> Image.Image:
    """Render ``lines`` top to bottom on an A4 fax page, mode "1", ``info["dpi"] = dpi``.

    The text is drawn at ``dpi[0]`` in both directions and the page is then squeezed vertically
    to ``dpi[1]`` (standard fax: 200x100), so the image has non-square pixels like a real fax.
    ``noise`` is the fraction of pixels flipped (salt and pepper); ``skew`` a rotation in degrees.
    ``threshold`` (0-255) binarises the grey page: a pixel lighter than it turns white. The
    default is a little dark of mid-grey, like a fax machine's text mode; at 128 a standard-
    resolution page loses most thin horizontal strokes (サ reads as リ, 7 as /).
    """
    xdpi, ydpi = dpi
    font = ImageFont.truetype(font_path or find_cjk_font(), max(8, round(font_pt * xdpi / 72)))
    width, height = a4_size((xdpi, xdpi))
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    margin_x = round(20 / MM_PER_INCH * xdpi)
    y = round(25 / MM_PER_INCH * xdpi)
    line_step = round(font.size * 1.9)
    for line in lines:
        draw.text((margin_x, y), line, font=font, fill=0)
        y += line_step
        if y > height - line_step:
            break
    if skew:
        page = page.rotate(skew, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=255)
    if ydpi != xdpi:
        page = page.resize((width, a4_size((xdpi, ydpi))[1]), Image.Resampling.BOX)
    bw = page.point(lambda v: 255 if v >= threshold else 0).convert("1", dither=Image.Dither.NONE)
    if noise > 0:
        rng = random.Random(seed)
        w, h = bw.size
        pixels = bw.load()
        assert pixels is not None
        for _ in range(int(w * h * noise)):
            px = rng.randrange(w)
            py = rng.randrange(h)
            pixels[px, py] = 255 if rng.random() < 0.5 else 0
    bw.info["dpi"] = (xdpi, ydpi)
    return bw


def _dpi_of(page: Image.Image) -> tuple[float, float]:
    dpi = page.info.get("dpi") or (200, 200)
    return float(dpi[0]), float(dpi[1])


def fax_tiff(pages: Sequence[Image.Image]) -> bytes:
    """Multi-page TIFF, CCITT group 4, each page with its resolution (as fax gateways send)."""
    if not pages:
        raise ValueError("no pages")
    resolutions = {_dpi_of(p) for p in pages}
    if len(resolutions) > 1:
        # Pillow writes one set of tags for all frames; a fax has one resolution anyway.
        raise ValueError(f"pages differ in resolution: {sorted(resolutions)}")
    first, *rest = [p if p.mode == "1" else p.convert("1") for p in pages]
    buf = io.BytesIO()
    first.save(
        buf,
        format="TIFF",
        compression="group4",
        dpi=_dpi_of(pages[0]),
        save_all=True,
        append_images=rest,
    )
    return buf.getvalue()


def fax_pdf(pages: Sequence[Image.Image]) -> bytes:
    """PDF with one full-page image per page (as an MFP scan-to-mail sends).

    The page size follows each image's own resolution, so a 200x100 image fills an A4 page and a
    renderer shows it with square pixels.
    """
    if not pages:
        raise ValueError("no pages")
    buf = io.BytesIO()
    first, *rest = [p if p.mode == "1" else p.convert("1") for p in pages]
    first.save(buf, format="PDF", dpi=_dpi_of(pages[0]), save_all=True, append_images=rest)
    return buf.getvalue()


# --------------------------------------------------------------------------- varied fax covers

_COMPANIES = (
    "株式会社サンプル商事",
    "有限会社テスト工業",
    "合同会社みどり企画",
    "株式会社東和システム",
    "北斗物産株式会社",
    "株式会社さくらネットワーク",
    "丸山精機株式会社",
    "株式会社アオバ情報サービス",
    "日の出運輸株式会社",
    "株式会社ミライ設計",
    "一般社団法人ひかり協会",
    "株式会社大和テクノ",
)
_PEOPLE = (
    "山田 太郎",
    "佐藤 花子",
    "鈴木 一郎",
    "高橋 美咲",
    "田中 健二",
    "伊藤 直子",
    "渡辺 翔",
    "中村 由美",
    "小林 誠",
    "加藤 恵",
    "吉田 大輔",
    "山本 彩",
)
_DOMAINS = (
    "example.co.jp",
    "sample-shoji.co.jp",
    "test-kogyo.jp",
    "midori-kikaku.example.jp",
    "towa-sys.co.jp",
    "hokuto.ne.jp",
    "sakura-net.example.com",
    "maruyama-seiki.co.jp",
    "aoba-is.jp",
    "hinode-unyu.co.jp",
    "mirai-sekkei.or.jp",
    "yamato-techno.co.jp",
)
_INQUIRIES = (
    ("ログイン画面でパスワードを入力してもエラーになります。", "至急ご確認をお願いいたします。"),
    ("請求書の金額が見積書と異なっております。", "差額についてご説明をお願いします。"),
    ("先月から管理画面の表示が非常に遅くなりました。", "原因の調査をお願いできますでしょうか。"),
    ("契約更新の手続き方法を教えてください。", "必要な書類があればFAXでお送りします。"),
    ("メールが一部の宛先に届かない状態です。", "エラーコードは550と表示されます。"),
    ("担当者変更のご連絡です。", "今後は下記の者が窓口となります。"),
    ("バックアップの復元手順について質問があります。", "平日10時から17時に連絡可能です。"),
    ("利用者アカウントを3件追加したいです。", "費用と納期をお知らせください。"),
)


class CoverFields:
    """The values written on one generated fax cover (what a field parser should find)."""

    def __init__(
        self, company: str, person: str, domain: str, customer: str, fax: str, inquiry: tuple
    ) -> None:
        self.company = company
        self.person = person
        self.domain = domain
        self.customer = customer
        self.fax = fax
        self.inquiry = inquiry

    def lines(self) -> list[str]:
        """The cover page's lines, top to bottom."""
        return [
            "FAX送信票",
            "株式会社ウケツケ サポートセンター 御中",
            f"社名: {self.company}",
            f"氏名: {self.person}",
            f"ドメイン名: {self.domain}",
            f"顧客番号: {self.customer}",
            "お問い合わせ内容",
            *self.inquiry,
            f"FAX: {self.fax}",
        ]


def cover_fields(seed: int) -> CoverFields:
    """Deterministic varied cover values; seed 0 is the SAMPLE_COVER company/person/domain."""
    rng = random.Random(seed)
    i = seed % len(_COMPANIES)
    customer = f"C{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
    if seed == 0:
        customer = "C0123-4567"
    area = rng.choice(("03", "06", "052", "011", "092", "045"))
    local = 8 - len(area) + 2
    fax = f"{area}-{rng.randrange(10 ** (local - 4)):0{local - 4}d}-{rng.randrange(10000):04d}"
    return CoverFields(
        _COMPANIES[i],
        _PEOPLE[(i * 5) % len(_PEOPLE)],
        _DOMAINS[(i * 7) % len(_DOMAINS)],
        customer,
        fax,
        _INQUIRIES[seed % len(_INQUIRIES)],
    )


_HYPHENS = "ー一−‐‑–—―"
_HYPHEN_BETWEEN = re.compile(rf"(?<=[0-9A-Za-z])[{_HYPHENS}](?=[0-9A-Za-z])")


def fold(text: str) -> str:
    """NFKC, dash-like characters between ASCII letters/digits to '-', whitespace removed.

    How a tolerant field parser compares OCR text with a value (C0123ー4567 -> C0123-4567).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _HYPHEN_BETWEEN.sub("-", text)
    return "".join(text.split())
