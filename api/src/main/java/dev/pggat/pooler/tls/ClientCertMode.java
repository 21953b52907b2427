package dev.pggat.pooler.tls;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Whether clients of the pooler must present a certificate, and what it must prove. */
public enum ClientCertMode {
    /** No client certificate is requested. */
    NONE("none"),
    /** A client certificate signed by the configured CA is required; who it names is not checked. */
    VERIFY_CA("verify-ca"),
    /**
     * As {@link #VERIFY_CA}, and the certificate must name the user: the auth code checks {@link
     * TlsInfo#peerNameMatches(String)} against the user of the StartupMessage.
     */
    VERIFY_FULL("verify-full");

    private final String configName;

    ClientCertMode(String configName) {
        this.configName = configName;
    }

    /** The spelling in the configuration file. */
    public String configName() {
        return configName;
    }

    public boolean requiresCertificate() {
        return this != NONE;
    }

    /** Parses the configuration spelling; the error lists what is accepted. */
    public static ClientCertMode fromConfig(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        for (ClientCertMode m : values()) {
            if (m.configName.equals(v)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown client certificate mode '" + value + "'; accepted: "
                + Arrays.stream(values()).map(ClientCertMode::configName).collect(Collectors.joining(", ")));
    }
}
