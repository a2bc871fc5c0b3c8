"""The first 30 days: playbooks published as versions, journeys started as customers enter
onboarding, steps completed or re-timed by what the timeline hears, missed ones swept.

signals.py   what completes a step, re-times it or ends a journey: the one vocabulary
versions.py  a playbook frozen as a version; the default playbook (a data migration installs it)
playbooks.py publishing a playbook (PlaybookRefused), choosing a customer's playbook
start.py     starting journeys for the customers that entered onboarding (stages_follow calls it)
follow.py    the follower: timeline events since the watermark, a batch at a time
apply.py     what a batch of events does to journeys (the follower's, or a person's mark)
ending.py    a journey completes (the customer becomes active) or ends early
sweep.py     overdue steps become missed, each with a missed_touchpoint for the step's team
marks.py     a person marks a step done: a touchpoint event, applied as a batch of one
events.py    one timeline builder per journey kind
timing.py    when a step is on time, and when it is missed

Kept free of imports: lifecycle/services/stages.py imports start.py, and ending.py imports stages.
"""
