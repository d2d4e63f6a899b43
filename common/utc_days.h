// Owns: proleptic Gregorian date <-> day-number arithmetic for UTC, the
// calendar absl/cctz use (UTC in absl has no leap seconds). For hot paths
// that would otherwise go through cctz's time-zone machinery; results are
// exactly absl::FromCivil/ToCivilDay's for UTC (tests compare them).
#pragma once

#include <cstdint>

namespace iss {

struct CivilDate {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

// Days since 1970-01-01. Eras of 400 years whose years start in March, so the
// leap day is the last day of its year.
constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

// The inverse of DaysFromCivil.
constexpr CivilDate CivilFromDays(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// floor(seconds / 86400): the day of a Unix time, also before 1970.
constexpr int64_t DayOfUnixSeconds(int64_t seconds) {
  return seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
}

// Text for years 0000-9999 (callers keep to that range and fall back to
// absl or protobuf outside it). Each writes exactly the characters named.
inline void WriteTwoDigits(int v, char* out) {  // v in [0, 99]
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

// "YYYY-MM-DD" (10 chars) of a day number.
inline void WriteCivilDate(int64_t days, char* out) {
  const CivilDate c = CivilFromDays(days);
  const int year = static_cast<int>(c.year);
  WriteTwoDigits(year / 100, out);
  WriteTwoDigits(year % 100, out + 2);
  out[4] = '-';
  WriteTwoDigits(c.month, out + 5);
  out[7] = '-';
  WriteTwoDigits(c.day, out + 8);
}

// "HH:MM:SS" (8 chars) of a second of the day in [0, 86399].
inline void WriteTimeOfDay(int second_of_day, char* out) {
  WriteTwoDigits(second_of_day / 3600, out);
  out[2] = ':';
  WriteTwoDigits(second_of_day / 60 % 60, out + 3);
  out[5] = ':';
  WriteTwoDigits(second_of_day % 60, out + 6);
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11016).month == 2 && CivilFromDays(11016).day == 29);
static_assert(CivilFromDays(-1).year == 1969 && CivilFromDays(-1).day == 31);
static_assert(DayOfUnixSeconds(-1) == -1 && DayOfUnixSeconds(-86400) == -1 &&
              DayOfUnixSeconds(86399) == 0);

}  // namespace iss
