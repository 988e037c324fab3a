#!/bin/sh
# The daily job (docs/daily.md). From cron, in the shop's timezone:
#   CRON_TZ=Asia/Shanghai
#   30 7 * * *  shop  cd /srv/shop && sh daily.sh >> huitou.log 2>&1
# The plan is made once in the morning. `huitou send ... --until +24h` then runs until the
# next morning's job: it hands each message over when its send_at comes (never early,
# never inside quiet hours), customers west of the shop included, whose evening falls
# after the shop's midnight. The next morning's run takes over from it and finishes
# what it left waiting.
# `sh daily.sh 2026-11-03` rehearses that day instead (against a test gateway or an
# outbox): the same steps on a clock that starts at 07:30 of it and moves through waits.
set -eu
if [ $# -gt 0 ]; then
    day=$1
    set -- --now "${day}T07:30"
else
    day=$(date +%F)
fi
huitou validate                                  # a broken playbook stops the day here (exit 1)
huitou test                                      # so does a failing rule test
mkdir -p plans
huitou plan --as-of "$day" --horizon 14d --out "plans/$day.jsonl"
huitou send "plans/$day.jsonl" --live --until +24h "$@"
