"""What comes in: files read into validated events, monthly submissions, registry loads, dataset loads.

files.py     JSON Lines / CSV (gzip, stdin) -> validated events with line numbers
submit.py    one enterprise's month, all or nothing: the pipeline
parser.py    per-record rules and canonical encoding (in a parser process on PostgreSQL)
writer.py    positions, chain, derived rows, idempotency, batching
checks.py    rules across the records of a submission, in SQL before commit
registry.py  registry files: groups, enterprises, sites, quotas
dataset.py   a folder of monthly files with its registry
"""
