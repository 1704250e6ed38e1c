"""Config references as a user types them: a full config id, a rank `#N`, or a unique id prefix.

`#N` is the rank `pgolf candidates` shows (best mean post-quant val_bpb first); a prefix must match
exactly one config of the sweep, else the error lists the matches.
"""

from __future__ import annotations

from collections.abc import Sequence

from sweeper.errors import UsageError


def resolve_config_ref(ref: str, config_ids: Sequence[str], ranked: Sequence[str], sweep: str) -> str:
    """The config id `ref` names among `config_ids` (every config of the sweep); `ranked` holds the
    ids in candidates order, for `#N`. UsageError: one line naming the reference and what is wrong."""
    ref = ref.strip()
    if ref.startswith("#"):
        number = ref[1:]
        if not number.isdigit() or int(number) < 1:
            raise UsageError(f"--config {ref}: a rank is # followed by a number from 1 (see `pgolf candidates`)")
        if int(number) > len(ranked):
            raise UsageError(f"--config {ref}: sweep {sweep} has {len(ranked)} ranked config(s) "
                             "(finished, scored seeds; see `pgolf candidates`)")
        return ranked[int(number) - 1]
    if ref in config_ids:
        return ref
    matches = sorted({c for c in config_ids if ref and c.startswith(ref)})
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"--config {ref}: ambiguous prefix, matches {len(matches)} configs of sweep {sweep}: "
                         + ", ".join(matches))
    known = ", ".join(dict.fromkeys(config_ids)) or "none"
    raise UsageError(f"--config {ref}: no such config in sweep {sweep} (configs: {known})")
