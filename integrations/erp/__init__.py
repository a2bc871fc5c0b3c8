"""ERP sales-order exports (CSV) read into plain order facts.

The pure layer, no Django: csvfile.py streams a file's rows, parsing.py reads numbers and dates in the
export's locale, profiles.py names the columns of ERPNext, Odoo and a generic export, facts.py turns one
order's values into facts, and reader.py folds line rows into their order. What to do with the facts
(the import batch, the preview, the domain's observations) lives beside it and builds on reader.read_orders.
"""
