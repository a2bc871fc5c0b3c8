"""The drill\x27s parts (benchmarks/drill.py runs them): the shop, the ERP, the CRM, the people, the faults, the checks."""
