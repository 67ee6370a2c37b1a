/*
 * Hour tables of typeahead-aggregate --hours (docs/TABLES.md "Hour tables", SPEC §13): the
 * period numbering that lets the counters carry an event's hour like a week, the file names of
 * the periods' tables (the pruning of old hours: agg_hours_prune.c).
 */
#include "agg_int.h"

/* Hours of years 1..9999 (what tbl_parse_time accepts) are about -1.8e7 .. 7.1e7: base + hour
 * stays positive, below INT32_MAX and above every week. */
tbl_week_t agg__hour_period(int64_t t) {
  return AGG__HOUR_BASE + (tbl_week_t)tbl_hour_of_unix(t);
}

void agg__period_name(tbl_week_t period, char out[TBL_WEEK_STR]) {
  if (period >= AGG__HOUR_BASE / 2)
    tbl_hour_name((int64_t)period - AGG__HOUR_BASE, out);
  else
    tbl_week_name(period, out);
}

tbl_week_t agg__period_week(tbl_week_t period) {
  if (period < AGG__HOUR_BASE / 2) return period;
  return tbl_week_of_unix(((int64_t)period - AGG__HOUR_BASE) * 3600);
}
