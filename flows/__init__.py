"""The Prefect flows. Importing any of them adjusts Prefect's engine first (see prefect_compat)."""

from orchestration import prefect_compat as prefect_compat
