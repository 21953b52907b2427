package dev.pggat.pooler.tls;

import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;
import java.security.AlgorithmParameters;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.spec.PSSParameterSpec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.bouncycastle.asn1.ASN1Encodable;
import org.bouncycastle.asn1.ASN1String;
import org.bouncycastle.asn1.x500.AttributeTypeAndValue;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;

/**
 * What authentication needs to know about a finished TLS handshake: the negotiated protocol, cipher and ALPN
 * protocol, the peer's certificates with the names they carry, and the {@code tls-server-end-point} channel binding
 * (RFC 5929) for SCRAM-SHA-256-PLUS.
 */
public final class TlsInfo {
    /*
     * RFC 5929 section 4.1: the certificate is hashed with its signature's hash, except that MD5 and SHA-1 are
     * replaced by SHA-256. Signatures without a separate hash (Ed25519, Ed448) have no defined binding, and
     * PostgreSQL refuses SCRAM-SHA-256-PLUS for them too.
     */
    private static final Map<String, String> HASH_BY_SIGNATURE_OID = Map.ofEntries(
            Map.entry("1.2.840.113549.1.1.4", "SHA-256"), // md5WithRSAEncryption
            Map.entry("1.2.840.113549.1.1.5", "SHA-256"), // sha1WithRSAEncryption
            Map.entry("1.2.840.113549.1.1.14", "SHA-224"), // sha224WithRSAEncryption
            Map.entry("1.2.840.113549.1.1.11", "SHA-256"), // sha256WithRSAEncryption
            Map.entry("1.2.840.113549.1.1.12", "SHA-384"), // sha384WithRSAEncryption
            Map.entry("1.2.840.113549.1.1.13", "SHA-512"), // sha512WithRSAEncryption
            Map.entry("1.2.840.10045.4.1", "SHA-256"), // ecdsa-with-SHA1
            Map.entry("1.2.840.10045.4.3.1", "SHA-224"), // ecdsa-with-SHA224
            Map.entry("1.2.840.10045.4.3.2", "SHA-256"), // ecdsa-with-SHA256
            Map.entry("1.2.840.10045.4.3.3", "SHA-384"), // ecdsa-with-SHA384
            Map.entry("1.2.840.10045.4.3.4", "SHA-512"), // ecdsa-with-SHA512
            Map.entry("1.2.840.10040.4.3", "SHA-256"), // dsa-with-sha1
            Map.entry("2.16.840.1.101.3.4.3.1", "SHA-224"), // dsa-with-sha224
            Map.entry("2.16.840.1.101.3.4.3.2", "SHA-256")); // dsa-with-sha256

    private static final String RSASSA_PSS_OID = "1.2.840.113549.1.1.10";

    private final String protocol;
    private final String cipherSuite;
    private final String applicationProtocol;
    private final List<X509Certificate> peerCertificates;
    private final byte[] tlsServerEndPoint;

    private TlsInfo(
            String protocol,
            String cipherSuite,
            String applicationProtocol,
            List<X509Certificate> peerCertificates,
            byte[] tlsServerEndPoint) {
        this.protocol = protocol;
        this.cipherSuite = cipherSuite;
        this.applicationProtocol = applicationProtocol;
        this.peerCertificates = peerCertificates;
        this.tlsServerEndPoint = tlsServerEndPoint;
    }

    /**
     * The state of a handler whose handshake has succeeded. Which certificate is "the server's" for channel binding
     * follows from the engine's mode: the local one when the pooler is the TLS server (towards clients), the peer's
     * when it is the TLS client (towards PostgreSQL).
     */
    public static TlsInfo of(SslHandler handler) {
        if (!handler.handshakeFuture().isSuccess()) {
            throw new IllegalStateException("the TLS handshake has not succeeded");
        }
        SSLSession session = handler.engine().getSession();
        boolean weAreClient = handler.engine().getUseClientMode();
        List<X509Certificate> peer = new ArrayList<>();
        try {
            for (Certificate c : session.getPeerCertificates()) {
                if (c instanceof X509Certificate x) {
                    peer.add(x);
                }
            }
        } catch (SSLPeerUnverifiedException e) {
            // No client certificate: normal unless one is required, and then the handshake would have failed.
        }
        X509Certificate serverCert = null;
        if (weAreClient) {
            serverCert = peer.isEmpty() ? null : peer.get(0);
        } else {
            Certificate[] local = session.getLocalCertificates();
            if (local != null && local.length > 0 && local[0] instanceof X509Certificate x) {
                serverCert = x;
            }
        }
        byte[] binding =
                serverCert == null ? null : tlsServerEndPoint(serverCert).orElse(null);
        String alpn = handler.applicationProtocol();
        return new TlsInfo(
                session.getProtocol(),
                session.getCipherSuite(),
                alpn == null || alpn.isEmpty() ? null : alpn,
                List.copyOf(peer),
                binding);
    }

    /** The info of the channel's TLS handler, if it has one that finished its handshake. */
    public static Optional<TlsInfo> of(Channel channel) {
        SslHandler h = channel.pipeline().get(SslHandler.class);
        return h == null || !h.handshakeFuture().isSuccess() ? Optional.empty() : Optional.of(of(h));
    }

    /** "TLSv1.3" or "TLSv1.2". */
    public String protocol() {
        return protocol;
    }

    public String cipherSuite() {
        return cipherSuite;
    }

    /** The ALPN protocol agreed on; empty when the client offered none. Direct TLS requires "postgresql". */
    public Optional<String> applicationProtocol() {
        return Optional.ofNullable(applicationProtocol);
    }

    /** The peer's certificate chain, its own certificate first; empty when it presented none. */
    public List<X509Certificate> peerCertificates() {
        return peerCertificates;
    }

    public Optional<X509Certificate> peerCertificate() {
        return peerCertificates.isEmpty() ? Optional.empty() : Optional.of(peerCertificates.get(0));
    }

    /** The first CN of the peer certificate's subject. */
    public Optional<String> peerCommonName() {
        return peerCertificate().flatMap(TlsInfo::commonName);
    }

    /** The DNS names in the peer certificate's subjectAltName. */
    public List<String> peerDnsNames() {
        return peerCertificate().map(TlsInfo::dnsNames).orElse(List.of());
    }

    /**
     * Whether the peer certificate names {@code user}, as client certificate mode verify-full requires: its CN or
     * one of its DNS subjectAltNames equals the user name exactly (case-sensitive, as PostgreSQL compares CN).
     */
    public boolean peerNameMatches(String user) {
        if (user == null || user.isEmpty()) {
            return false;
        }
        return peerCommonName().map(user::equals).orElse(false)
                || peerDnsNames().contains(user);
    }

    /**
     * The {@code tls-server-end-point} channel binding data; empty when the server certificate's signature has no
     * defined hash (Ed25519), in which case SCRAM-SHA-256-PLUS must not be offered.
     */
    public Optional<byte[]> tlsServerEndPoint() {
        return tlsServerEndPoint == null ? Optional.empty() : Optional.of(tlsServerEndPoint.clone());
    }

    /** RFC 5929 {@code tls-server-end-point} of a server certificate. */
    public static Optional<byte[]> tlsServerEndPoint(X509Certificate serverCert) {
        Optional<String> hash = channelBindingHash(serverCert);
        if (hash.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(MessageDigest.getInstance(hash.get()).digest(serverCert.getEncoded()));
        } catch (GeneralSecurityException e) {
            return Optional.empty();
        }
    }

    /** The JCA name of the hash that RFC 5929 picks for this certificate, if any. */
    public static Optional<String> channelBindingHash(X509Certificate cert) {
        String oid = cert.getSigAlgOID();
        if (RSASSA_PSS_OID.equals(oid)) {
            return pssHash(cert.getSigAlgParams());
        }
        return Optional.ofNullable(HASH_BY_SIGNATURE_OID.get(oid));
    }

    private static Optional<String> pssHash(byte[] params) {
        if (params == null) {
            return Optional.of("SHA-256"); // RSASSA-PSS defaults to SHA-1, which RFC 5929 upgrades
        }
        try {
            AlgorithmParameters p = AlgorithmParameters.getInstance("RSASSA-PSS");
            p.init(params);
            String digest = p.getParameterSpec(PSSParameterSpec.class).getDigestAlgorithm();
            String normalized = digest.toUpperCase(java.util.Locale.ROOT).replace("SHA-", "SHA");
            return switch (normalized) {
                case "SHA1", "MD5" -> Optional.of("SHA-256");
                case "SHA224", "SHA256", "SHA384", "SHA512" -> Optional.of("SHA-" + normalized.substring(3));
                default -> Optional.empty();
            };
        } catch (GeneralSecurityException | java.io.IOException e) {
            return Optional.empty();
        }
    }

    static Optional<String> commonName(X509Certificate cert) {
        X500Name name = X500Name.getInstance(cert.getSubjectX500Principal().getEncoded());
        for (RDN rdn : name.getRDNs()) {
            for (AttributeTypeAndValue tv : rdn.getTypesAndValues()) {
                if (tv.getType().equals(BCStyle.CN)) {
                    ASN1Encodable v = tv.getValue();
                    // The raw string, not the RFC 4514 form: "a,b" must compare equal to a user named "a,b".
                    return Optional.of(v instanceof ASN1String s ? s.getString() : IETFUtils.valueToString(v));
                }
            }
        }
        return Optional.empty();
    }

    static List<String> dnsNames(X509Certificate cert) {
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans == null) {
                return List.of();
            }
            List<String> out = new ArrayList<>();
            for (List<?> san : sans) {
                if (san.size() >= 2 && Integer.valueOf(2).equals(san.get(0)) && san.get(1) instanceof String s) {
                    out.add(s);
                }
            }
            return List.copyOf(out);
        } catch (CertificateParsingException e) {
            return List.of();
        }
    }

    /** Never includes certificates' contents beyond the peer's subject. */
    @Override
    public String toString() {
        return protocol + " " + cipherSuite
                + (applicationProtocol == null ? "" : " alpn=" + applicationProtocol)
                + peerCertificate()
                        .map(c -> " peer='" + c.getSubjectX500Principal().getName() + "'")
                        .orElse("");
    }
}
