package dev.pggat.pooler.config;

import java.util.Objects;

/**
 * One line of a certificate name map ({@code auth.certMaps.<name>[]}), like a pg_ident.conf line: the
 * certificate's CN or a DNS subjectAltName matches {@code certName} (exactly, or as a regular expression when it
 * starts with '/'), and the client may then log in as {@code user} ({@code \1} takes the first group).
 */
public record CertMapEntry(String certName, String user) {
    public CertMapEntry {
        Objects.requireNonNull(certName, "certName");
        Objects.requireNonNull(user, "user");
    }
}
