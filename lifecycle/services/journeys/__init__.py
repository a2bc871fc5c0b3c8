"""The first 30 days: playbooks published as versions, journeys started as customers enter
onboarding, steps completed or re-timed by what the timeline hears, missed ones swept.

signals.py   what completes a step (the vocabulary, validated when a playbook is saved)
playbooks.py publishing a playbook, the default playbook, choosing a customer's playbook
start.py     starting journeys for the customers that entered onboarding (stages_follow calls it)
follow.py    the follower: timeline events since the watermark complete, re-time and end steps
ending.py    a journey completes (the customer becomes active) or ends early
sweep.py     overdue steps become missed, each with a missed_touchpoint for the step's team
marks.py     a person marks a step done: a touchpoint event, followed as a batch of one

Kept free of imports: lifecycle/services/stages.py imports start.py, and ending.py imports stages.
"""
