package dev.pggat.operator.webhook;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The webhook's own small PKI: a long-lived CA whose certificate is the webhook configuration's {@code caBundle},
 * and a shorter-lived serving certificate it signs. Renewing the serving certificate therefore never touches the
 * {@code caBundle}, and the API server keeps trusting replicas that still serve the previous one.
 */
public final class WebhookPki {
    public static final Duration CA_VALIDITY = Duration.ofDays(3650);
    public static final Duration SERVING_VALIDITY = Duration.ofDays(365);

    private static final SecureRandom RANDOM = new SecureRandom();

    private WebhookPki() {}

    /** A key and its certificate chain (leaf first). */
    public record Identity(PrivateKey key, List<X509Certificate> chain) {
        public X509Certificate leaf() {
            return chain.get(0);
        }
    }

    public static Identity newCa(String commonName, Instant now) {
        KeyPair kp = ecKeyPair();
        X500Name name = new X500Name("CN=" + commonName);
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                            name, serial(), notBefore(now), Date.from(now.plus(CA_VALIDITY)), name, kp.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(
                            Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
            return new Identity(kp.getPrivate(), List.of(sign(b, kp.getPrivate())));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot create the webhook CA certificate", e);
        }
    }

    /** A serving certificate for {@code dnsNames} (the first is also the common name), signed by {@code ca}. */
    public static Identity newServing(Identity ca, List<String> dnsNames, Instant now) {
        KeyPair kp = ecKeyPair();
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            GeneralName[] names = dnsNames.stream()
                    .map(n -> new GeneralName(GeneralName.dNSName, n))
                    .toArray(GeneralName[]::new);
            Instant notAfter = now.plus(SERVING_VALIDITY);
            if (notAfter.isAfter(ca.leaf().getNotAfter().toInstant())) {
                notAfter = ca.leaf().getNotAfter().toInstant();
            }
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                            ca.leaf(),
                            serial(),
                            notBefore(now),
                            Date.from(notAfter),
                            new X500Name("CN=" + dnsNames.get(0)),
                            kp.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(
                            Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth))
                    .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names))
                    .addExtension(
                            Extension.authorityKeyIdentifier,
                            false,
                            ext.createAuthorityKeyIdentifier(ca.leaf().getPublicKey()))
                    .addExtension(
                            Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
            return new Identity(kp.getPrivate(), List.of(sign(b, ca.key()), ca.leaf()));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot create the webhook serving certificate", e);
        }
    }

    /** The DNS names under which the API server reaches {@code service} in {@code namespace}. */
    public static List<String> serviceDnsNames(String service, String namespace) {
        return List.of(
                service + "." + namespace + ".svc",
                service + "." + namespace + ".svc.cluster.local",
                service + "." + namespace,
                service);
    }

    /** Whether {@code cert} names every one of {@code dnsNames}. */
    public static boolean covers(X509Certificate cert, List<String> dnsNames) {
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans == null) {
                return false;
            }
            List<String> have = new ArrayList<>();
            for (List<?> san : sans) {
                if (Integer.valueOf(GeneralName.dNSName).equals(san.get(0))) {
                    have.add((String) san.get(1));
                }
            }
            return have.containsAll(dnsNames);
        } catch (java.security.cert.CertificateParsingException e) {
            return false;
        }
    }

    public static boolean signedBy(X509Certificate cert, X509Certificate issuer) {
        try {
            cert.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** PEM of a certificate, or of a private key as PKCS#8 (which every reader understands). */
    public static String pem(Object certOrKey) {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter pw = new JcaPEMWriter(w)) {
            if (certOrKey instanceof PrivateKey key) {
                pw.writeObject(new JcaPKCS8Generator(key, null));
            } else {
                pw.writeObject(certOrKey);
            }
        } catch (IOException e) {
            throw new IllegalStateException("writing PEM to memory cannot fail", e);
        }
        return w.toString();
    }

    public static String pemChain(List<X509Certificate> chain) {
        StringBuilder b = new StringBuilder();
        chain.forEach(c -> b.append(pem(c)));
        return b.toString();
    }

    /** @throws IllegalArgumentException when {@code pem} holds no X.509 certificate */
    public static List<X509Certificate> parseCertificates(String pem) {
        try {
            List<X509Certificate> out = new ArrayList<>();
            for (var c : CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("no PEM certificate found");
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not a PEM X.509 certificate: " + e.getMessage(), e);
        }
    }

    /** Reads a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM private key: cert-manager writes any of them. */
    public static PrivateKey parsePrivateKey(String pem) {
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            Object o = p.readObject();
            JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
            if (o instanceof PEMKeyPair kp) {
                // SEC1 EC keys may omit the public key; the private key info alone is enough.
                return conv.getPrivateKey(kp.getPrivateKeyInfo());
            }
            if (o instanceof org.bouncycastle.asn1.pkcs.PrivateKeyInfo info) {
                return conv.getPrivateKey(info);
            }
            throw new IllegalArgumentException(
                    o == null
                            ? "no PEM private key found"
                            : "unsupported PEM object " + o.getClass().getSimpleName());
        } catch (IOException e) {
            throw new IllegalArgumentException("not a PEM private key: " + e.getMessage(), e);
        }
    }

    private static KeyPair ecKeyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("every Java runtime has EC P-256", e);
        }
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter()
                    .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static BigInteger serial() {
        return new BigInteger(128, RANDOM);
    }

    /** Back-dated a little so that a node whose clock lags does not reject a certificate made a moment ago. */
    private static Date notBefore(Instant now) {
        return Date.from(now.minus(Duration.ofMinutes(5)));
    }
}
