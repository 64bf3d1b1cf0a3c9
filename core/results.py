"""What a job's steps did, typed: the flow, the CLI, the page, the artifacts and the preview
all render these, and nothing between the layers is a loose dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Counted(Protocol):
    """A step's own result type (lookup changes, employees, leave balances)."""

    def counted(self) -> dict[str, int]:
        """Each count by its name, in the order people read them."""
        ...


@dataclass(frozen=True)
class StepCounts:
    """One row of counts: a step or a lookup, what it changed, and the first codes of each."""

    name: str
    counts: tuple[tuple[str, int], ...]
    samples: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, name: str, result: Counted) -> StepCounts:
        """The counts of one step's result, with its samples when it keeps some."""
        samples: dict[str, list[str]] = getattr(result, "samples", None) or {}
        return cls(
            name,
            tuple(result.counted().items()),
            tuple((kind, tuple(codes)) for kind, codes in samples.items()),
        )

    def count(self, name: str) -> int:
        """One count by name (0 when the step has no such count)."""
        return dict(self.counts).get(name, 0)

    def shown(self) -> str:
        """The counts as one line: "3 added, 0 updated, ..."."""
        return ", ".join(f"{n} {kind}" for kind, n in self.counts)


@dataclass(frozen=True)
class JobResult:
    """How a job (or a preview) ended and what each step did."""

    kind: str
    database: str
    status: str
    message: str
    job_id: int | None = None
    seconds: float | None = None
    failed_step: str | None = None
    steps: tuple[StepCounts, ...] = ()
    lines: tuple[str, ...] = field(default=())
    """A preview's log lines (a real job's are in the Web API Log)."""

    def step(self, name: str) -> StepCounts | None:
        """The counts of one step by name."""
        return next((s for s in self.steps if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (for `sync_job.summary`, the CLI's --json and the page)."""
        return {
            "kind": self.kind,
            "database": self.database,
            "status": self.status,
            "message": self.message,
            "job_id": self.job_id,
            "seconds": self.seconds,
            "failed_step": self.failed_step,
            "steps": [
                {
                    "name": s.name,
                    "counts": dict(s.counts),
                    "samples": {kind: list(codes) for kind, codes in s.samples},
                }
                for s in self.steps
            ],
            "lines": list(self.lines),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        """The result back from to_json()."""
        steps = tuple(
            StepCounts(
                s["name"],
                tuple((k, int(n)) for k, n in s["counts"].items()),
                tuple((k, tuple(v)) for k, v in (s.get("samples") or {}).items()),
            )
            for s in data.get("steps", ())
        )
        return cls(
            kind=data["kind"],
            database=data["database"],
            status=data["status"],
            message=data["message"],
            job_id=data.get("job_id"),
            seconds=data.get("seconds"),
            failed_step=data.get("failed_step"),
            steps=steps,
            lines=tuple(data.get("lines", ())),
        )


class StepFailed(Exception):
    """A failure inside a step that names the part it failed in ("Importing country")."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"{step} failed")
        self.step = step
        self.__cause__ = cause
