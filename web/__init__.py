"""The ESS "Settings > General" page: payroll databases, their Sync buttons and the Web API Log."""
