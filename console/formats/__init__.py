"""The console's date formats per language (FORMAT_MODULE_PATH in settings): one format for every
date and time on every page, Unfold's own columns and filters' read-outs included."""
