#!/bin/sh
# The daily job (docs/daily.md). From cron, in the shop's timezone:
#   CRON_TZ=Asia/Shanghai
#   30 7 * * *  shop  cd /srv/shop && sh daily.sh >> huitou.log 2>&1
# The plan is made once in the morning. `huitou send ... --until "$day"` then runs through
# the day: it hands each message over when its send_at comes (never early, never inside
# quiet hours) and ends after the last one. Tomorrow's run takes over from it if it is
# still waiting for a message deferred past midnight.
set -eu
day=$(date +%F)
huitou validate                                  # a broken playbook stops the day here (exit 1)
huitou test                                      # so does a failing rule test
mkdir -p plans
huitou plan --as-of "$day" --horizon 14d --out "plans/$day.jsonl"
huitou send "plans/$day.jsonl" --live --until "$day"
