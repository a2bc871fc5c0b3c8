"""Reads the console makes of the integrations' tables: lifecycle never imports them, so what a screen
shows of a CRM or a shop beside the domain's own data is read here, with the same bounded queries."""
