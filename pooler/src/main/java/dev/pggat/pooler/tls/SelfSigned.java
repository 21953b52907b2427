package dev.pggat.pooler.tls;

import io.netty.util.NetUtil;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate and key generated at start, for a pooler that must offer TLS but was given no certificate. Clients
 * cannot verify it against a CA; they can pin it by the {@link #sha256Fingerprint()} the pooler logs.
 */
public final class SelfSigned {
    /** Long enough to outlive any process; short enough that a leaked key does not stay valid for decades. */
    public static final Duration DEFAULT_VALIDITY = Duration.ofDays(365);

    private static final List<String> ALWAYS = List.of("localhost", "127.0.0.1", "::1");

    private final X509Certificate certificate;
    private final PrivateKey privateKey;
    private final List<String> names;

    private SelfSigned(X509Certificate certificate, PrivateKey privateKey, List<String> names) {
        this.certificate = certificate;
        this.privateKey = privateKey;
        this.names = names;
    }

    /** A certificate for localhost, 127.0.0.1, ::1 and {@code names}, valid {@link #DEFAULT_VALIDITY}. */
    public static SelfSigned generate(Collection<String> names) {
        return generate(names, DEFAULT_VALIDITY);
    }

    /**
     * @param names extra DNS names (wildcards like {@code *.pggat.svc} allowed) and IP addresses for the
     *     subjectAltName; the first one, or {@code localhost}, becomes the CN
     */
    public static SelfSigned generate(Collection<String> names, Duration validity) {
        Set<String> all = new LinkedHashSet<>();
        for (String n : names) {
            String name = n == null ? "" : n.trim();
            if (name.isEmpty()) {
                throw new IllegalArgumentException("a certificate name must not be empty");
            }
            if (!NetUtil.isValidIpV4Address(name) && !NetUtil.isValidIpV6Address(name) && !isDnsName(name)) {
                throw new IllegalArgumentException("'" + name + "' is neither an IP address nor a DNS name"
                        + " (letters, digits, '-' and '.', optionally starting with '*.')");
            }
            all.add(name.toLowerCase(Locale.ROOT));
        }
        String cn = all.isEmpty() ? "localhost" : all.iterator().next();
        all.addAll(ALWAYS);
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("EC");
            gen.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair pair = gen.generateKeyPair();

            List<GeneralName> sans = new ArrayList<>();
            for (String name : all) {
                boolean ip = NetUtil.isValidIpV4Address(name) || NetUtil.isValidIpV6Address(name);
                sans.add(new GeneralName(ip ? GeneralName.iPAddress : GeneralName.dNSName, name));
            }
            X500Name subject = new X500NameBuilder(BCStyle.INSTANCE)
                    .addRDN(BCStyle.O, "pggat")
                    .addRDN(BCStyle.CN, cn)
                    .build();
            // Backdated an hour so that clients with a slightly slow clock accept it.
            Instant notBefore = Instant.now().minus(Duration.ofHours(1));
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                            subject,
                            new BigInteger(127, new SecureRandom()).add(BigInteger.ONE),
                            java.util.Date.from(notBefore),
                            java.util.Date.from(notBefore.plus(validity)),
                            subject,
                            pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(
                            Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement))
                    .addExtension(
                            Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                    .addExtension(
                            Extension.subjectAlternativeName,
                            false,
                            new GeneralNames(sans.toArray(GeneralName[]::new)));
            X509Certificate cert = new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate())));
            return new SelfSigned(cert, pair.getPrivate(), List.copyOf(all));
        } catch (GeneralSecurityException | OperatorCreationException | CertIOException e) {
            throw new IllegalStateException("cannot generate a self-signed certificate: " + e.getMessage(), e);
        }
    }

    public X509Certificate certificate() {
        return certificate;
    }

    public PrivateKey privateKey() {
        return privateKey;
    }

    /** The names in the certificate's subjectAltName, in order. */
    public List<String> names() {
        return names;
    }

    /** SHA-256 of the DER certificate as upper-case hex pairs joined by ':', as {@code openssl x509 -fingerprint}. */
    public String sha256Fingerprint() {
        return fingerprint(certificate);
    }

    /** SHA-256 fingerprint of any certificate, formatted as {@link #sha256Fingerprint()}. */
    public static String fingerprint(X509Certificate cert) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(cert.getEncoded());
            StringBuilder sb = new StringBuilder(digest.length * 3);
            for (byte d : digest) {
                if (sb.length() > 0) {
                    sb.append(':');
                }
                sb.append(Character.toUpperCase(Character.forDigit((d >> 4) & 0xF, 16)));
                sb.append(Character.toUpperCase(Character.forDigit(d & 0xF, 16)));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean isDnsName(String name) {
        String n = name.startsWith("*.") ? name.substring(2) : name;
        if (n.isEmpty() || n.length() > 253 || n.startsWith(".") || n.endsWith(".") || n.contains("..")) {
            return false;
        }
        for (String label : n.split("\\.")) {
            if (label.isEmpty() || label.length() > 63 || label.startsWith("-") || label.endsWith("-")) {
                return false;
            }
            for (int i = 0; i < label.length(); i++) {
                char c = label.charAt(i);
                if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')) {
                    return false;
                }
            }
        }
        return true;
    }
}
