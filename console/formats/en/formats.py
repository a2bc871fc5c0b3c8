"""English: "4 Dec 2026, 14:03" everywhere.

Day, month name, year: no reader mistakes it for 12 April the way "12/04/2026" can be, whichever
English they write. A 24-hour clock: a queue's SLA reads without a.m./p.m. Short and long formats
are the same on purpose, so a template cannot pick a second way of writing a date. Input formats
are left to Django's: only the display changes here.
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
