"""Protocol buffer sources (versioned packages such as lureguard.agent.v1) and their generated modules."""
