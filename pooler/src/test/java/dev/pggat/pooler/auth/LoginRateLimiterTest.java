package dev.pggat.pooler.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class LoginRateLimiterTest {

    private static InetAddress ip(String text) throws Exception {
        return InetAddress.getByName(text);
    }

    /** A distinct IPv4 address for each {@code i} below 2^24. */
    private static InetAddress v4(int i) throws Exception {
        return InetAddress.getByAddress(new byte[] {10, (byte) (i >>> 16), (byte) (i >>> 8), (byte) i});
    }

    @Test
    void addressIsBlockedAfterMaxFailuresAndOthersAreNot() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(3, Duration.ofMinutes(1));
        for (int i = 0; i < 2; i++) {
            l.failed(ip("192.0.2.1"));
        }
        assertThat(l.blockedFor(ip("192.0.2.1"))).isZero();
        l.failed(ip("192.0.2.1"));
        assertThat(l.blockedFor(ip("192.0.2.1"))).isPositive().isLessThanOrEqualTo(Duration.ofMinutes(1));
        assertThat(l.blockedFor(ip("192.0.2.2"))).isZero();
    }

    @Test
    void ipv6AddressesOfOneSlash64ShareOneBudget() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(3, Duration.ofMinutes(1));
        l.failed(ip("2001:db8:1:2::1"));
        l.failed(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        l.failed(ip("2001:db8:1:2:abcd::42"));
        assertThat(l.blockedFor(ip("2001:db8:1:2:9999::9"))).as("same /64").isPositive();
        assertThat(l.blockedFor(ip("2001:db8:1:3::1"))).as("next /64").isZero();
        assertThat(l.trackedAddresses()).isEqualTo(1);
    }

    @Test
    void floodOfDistinctSourcesStaysBoundedAndKeepsBlockedAddressesBlocked() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(3, Duration.ofMinutes(5), 10_000);
        InetAddress guesser = ip("192.0.2.7");
        for (int i = 0; i < 3; i++) {
            l.failed(guesser);
        }
        long start = System.nanoTime();
        int max = 0;
        for (int i = 0; i < 50_000; i++) {
            l.failed(v4(i));
            max = Math.max(max, l.trackedAddresses());
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(max).as("entries ever held").isLessThanOrEqualTo(10_000);
        assertThat(l.blockedFor(guesser)).as("the guesser is still blocked").isPositive();
        // Sources that failed once are dropped first, so a newcomer with one failure is not refused.
        assertThat(l.blockedFor(ip("192.0.2.200"))).isZero();
        // Generous on a loaded machine; a scan of the table per failure takes minutes here.
        assertThat(millis).as("ms for 50,000 failures").isLessThan(10_000L);
    }

    @Test
    void whenEveryTrackedSourceIsBlockedNewSourcesShareOneBudget() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(2, Duration.ofMinutes(5), 100);
        for (int i = 0; i < 100; i++) {
            l.failed(v4(i));
            l.failed(v4(i));
        }
        assertThat(l.trackedAddresses()).isEqualTo(100);
        InetAddress newcomer = v4(1000);
        assertThat(l.blockedFor(newcomer)).isZero();
        l.failed(v4(1001));
        l.failed(v4(1002));
        assertThat(l.trackedAddresses()).as("bounded").isEqualTo(100);
        // A flood cannot hide new guessers: past the bound they are counted together.
        assertThat(l.blockedFor(newcomer)).isPositive();
        assertThat(l.blockedFor(v4(5))).as("still blocked on its own").isPositive();
    }

    @Test
    void expiredWindowsAreForgotten() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(1, Duration.ofMillis(50));
        l.failed(ip("192.0.2.9"));
        assertThat(l.blockedFor(ip("192.0.2.9"))).isPositive();
        Thread.sleep(80);
        assertThat(l.blockedFor(ip("192.0.2.9"))).isZero();
        for (int i = 0; i < 10; i++) {
            l.failed(v4(i));
        }
        Thread.sleep(80);
        // The next failure after a sweep interval sweeps what expired.
        l.failed(ip("192.0.2.10"));
        assertThat(l.trackedAddresses()).isEqualTo(1);
    }

    @Test
    void disabledLimiterTracksNothing() throws Exception {
        LoginRateLimiter l = new LoginRateLimiter(0, Duration.ofMinutes(1));
        for (int i = 0; i < 100; i++) {
            l.failed(v4(i));
        }
        assertThat(l.trackedAddresses()).isZero();
        assertThat(l.blockedFor(v4(1))).isZero();
    }
}
