package dev.pggat.pooler.console;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** PgBouncer's averages: counts and bytes per second of the period, times per transaction, query or assignment. */
class StatsWindowTest {
    @Test
    void averagesArePerSecondForCountsAndPerEventForTimes() {
        StatsWindow.Totals before = new StatsWindow.Totals(10, 10, 20, 1000, 2000, 500, 400, 100, 0, 5, 5);
        StatsWindow.Totals after = new StatsWindow.Totals(70, 70, 140, 7000, 14000, 6500, 4000, 700, 0, 65, 125);
        StatsWindow.Totals avg = after.averageSince(before, 60);
        assertThat(avg.assignments()).isEqualTo(1); // 60 assignments in 60 s
        assertThat(avg.xacts()).isEqualTo(1);
        assertThat(avg.queries()).isEqualTo(2);
        assertThat(avg.received()).isEqualTo(100);
        assertThat(avg.sent()).isEqualTo(200);
        assertThat(avg.xactMicros()).isEqualTo(100); // 6000 µs over 60 transactions
        assertThat(avg.queryMicros()).isEqualTo(30); // 3600 µs over 120 queries
        assertThat(avg.waitMicros()).isEqualTo(10); // 600 µs over 60 assignments
        assertThat(avg.serverParses()).isEqualTo(1);
        assertThat(avg.binds()).isEqualTo(2);
    }

    @Test
    void aQuietPeriodAveragesToZeroWithoutDividingByZero() {
        StatsWindow.Totals t = new StatsWindow.Totals(5, 5, 5, 5, 5, 5, 5, 5, 0, 5, 5);
        StatsWindow.Totals avg = t.averageSince(t, 60);
        assertThat(avg).isEqualTo(StatsWindow.Totals.ZERO);
    }
}
