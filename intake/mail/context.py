"""What the parser needs to know of the configuration: the tag, who is staff, who is a fax
gateway. Light (no parser imported), so ``uketsuke parse`` and the pipeline build it alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from intake.incidenttag import DEFAULT_PREFIX

if TYPE_CHECKING:
    from intake.config import Config


@dataclass(frozen=True)
class ParseContext:
    """What the parser needs to know of the configuration: who is staff, who is a fax gateway."""

    tag_prefix: str = DEFAULT_PREFIX
    staff_addresses: frozenset[str] = frozenset()
    fax_senders: frozenset[str] = frozenset()


def parse_context(config: Config, profile: str | None = None) -> ParseContext:
    """The profile's tag prefix, every profile's staff addresses, the fax gateways' senders."""
    staff = {a.lower() for p in config.profiles.values() for a in p.staff_addresses}
    return ParseContext(
        tag_prefix=config.profile(profile).tag_prefix,
        staff_addresses=frozenset(staff),
        fax_senders=frozenset(config.fax_sender_addresses()),
    )
