"""ERP sales-order exports (CSV) read into plain order facts.

The pure layer, no Django: csvfile.py streams a file's rows, parsing.py reads numbers and dates in the
export's locale, profiles.py names the columns of ERPNext, Odoo and a generic export, facts.py turns one
order's values into facts, and reader.py folds line rows into their order. What to do with the facts
(the import batch, the preview, the domain's observations) lives beside it and builds on reader.read_orders:
the Django app "erp" (apps.py, models.py), statuses.py and status_mappings.py (what the ERP's statuses
mean), records.py (rows as the domain's observations; orphans), importing.py (erp_import, the entry
point of the admin, the command import_erp and the tasks), checked.py (the first pass's orders kept for
the second), chunks.py (a chunk previewed or applied) and applying.py (the second pass, side by side).
"""
