"""Pure analysis: bytes in, facts and verdicts out. No sockets, no clocks, no global state."""
