"""The offline scanner: walk paths, analyse files in budgeted worker processes, report."""
