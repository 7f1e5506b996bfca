"""One module per file format; each exposes ``analyze(data, name, ctx) -> FormatResult``."""
