"""Typer converts a command's parameters with pydantic only when a value needs converting.

Typer 0.29 builds a pydantic TypeAdapter for every parameter it reads, even one left unset
(`--help`) or a name that is a string already: importing pydantic and building them cost
~0.15 s, a third of what `ess-sync status` may take (issue 16). A value whose conversion is
plain (a str for a str, digits in range for an int) is converted here; every other value,
and every error message, is Typer's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DIGITS = re.compile(r"[0-9]{1,18}")
_NOT_PLAIN = object()


def convert_parameters_lazily() -> None:
    """Make Typer build a parameter's pydantic adapter only for a value that needs one."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    except ImportError:  # another Typer: its own conversion, at its own cost
        return
    if not hasattr(core._TyperParameter, "get_runtime_param"):
        return

    @dataclass(frozen=True)
    class WhenNeeded(RuntimeParam):
        """Typer's conversion of one parameter, built for the first value that needs it."""

        descriptor: TypeDescriptor

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            # RuntimeParam.coerce has answered an unset value (None) before this is called.
            plain = _plain_value(self.descriptor, value)
            if plain is not _NOT_PLAIN:
                return plain
            built = param._runtime_param = build_runtime_param(self.descriptor)
            return built._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            descriptor = self.type_descriptor
            self._runtime_param = WhenNeeded(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
            )
        return self._runtime_param

    core._TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]


def _plain_value(descriptor: Any, value: Any) -> Any:
    """What Typer's adapter would make of VALUE, where that is plain; else _NOT_PLAIN."""
    info = descriptor.parameter_info
    if info.parser is not None or descriptor.file_annotation is not None:
        return _NOT_PLAIN
    if descriptor.annotation is str and type(value) is str:
        return value
    if descriptor.annotation is int:
        if type(value) is str and _DIGITS.fullmatch(value):
            value = int(value)
        if (
            type(value) is int
            and (info.min is None or value >= info.min)
            and (info.max is None or value <= info.max)
        ):
            return value
    return _NOT_PLAIN
