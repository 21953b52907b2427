package dev.pggat.pooler.auth;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Objects;

/** An address range such as {@code 10.0.0.0/8}, {@code ::1/128} or a single address; {@code all} matches any. */
public final class Cidr {
    public static final Cidr ALL = new Cidr(null, 0, "all");

    private final byte[] network;
    private final int prefix;
    private final String text;

    private Cidr(byte[] network, int prefix, String text) {
        this.network = network;
        this.prefix = prefix;
        this.text = text;
    }

    /**
     * Parses {@code all}, an IP address, or address/prefix-length. Host bits set below the prefix are an error
     * (as pg_hba.conf treats them), because {@code 10.1.2.3/8} is almost always a typo.
     *
     * @throws IllegalArgumentException with what is accepted
     */
    public static Cidr parse(String value) {
        Objects.requireNonNull(value, "value");
        String v = value.trim();
        if (v.equalsIgnoreCase("all")) {
            return ALL;
        }
        int slash = v.indexOf('/');
        String addr = slash < 0 ? v : v.substring(0, slash);
        byte[] bytes = NetUtil.createByteArrayFromIpAddressString(addr);
        if (bytes == null) {
            throw new IllegalArgumentException("'" + value + "' is not an IP address or CIDR range");
        }
        int max = bytes.length * 8;
        int prefix = max;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(v.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > max) {
                throw new IllegalArgumentException(
                        "'" + value + "' has an invalid prefix length (0 to " + max + " for this address)");
            }
        }
        for (int bit = prefix; bit < max; bit++) {
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0) {
                throw new IllegalArgumentException("'" + value + "' has bits set beyond its prefix length");
            }
        }
        return new Cidr(bytes, prefix, v);
    }

    /** Whether {@code address} is in the range; an IPv4-mapped IPv6 address counts as its IPv4 address. */
    public boolean contains(InetAddress address) {
        if (network == null) {
            return true;
        }
        if (address == null) {
            return false;
        }
        byte[] a = address.getAddress();
        if (a.length == 16 && network.length == 4 && isV4Mapped(a)) {
            byte[] v4 = new byte[4];
            System.arraycopy(a, 12, v4, 0, 4);
            a = v4;
        }
        if (a.length != network.length) {
            return false;
        }
        int full = prefix / 8;
        for (int i = 0; i < full; i++) {
            if (a[i] != network[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (a[full] & mask) == (network[full] & mask);
    }

    private static boolean isV4Mapped(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return (a[10] & 0xFF) == 0xFF && (a[11] & 0xFF) == 0xFF;
    }

    /** For tests and log lines. */
    static InetAddress address(String literal) {
        try {
            return InetAddress.getByAddress(NetUtil.createByteArrayFromIpAddressString(literal));
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && java.util.Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return 31 * prefix + java.util.Arrays.hashCode(network);
    }

    @Override
    public String toString() {
        return text;
    }
}
