package dev.pggat.pooler.tls;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.PSSParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
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
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemGenerationException;

/** A throw-away PKI for tests: CAs, server and client certificates, written as PEM the way Kubernetes mounts them. */
final class TestPki {
    private static final SecureRandom RANDOM = new SecureRandom();

    enum KeyKind {
        RSA,
        EC_P256,
        EC_P384,
        ED25519
    }

    /** A certificate with the key pair it was issued for. */
    record Issued(X509Certificate cert, KeyPair keys) {
        PrivateKey key() {
            return keys.getPrivate();
        }
    }

    private TestPki() {}

    static KeyPair keyPair(KeyKind kind) {
        try {
            return switch (kind) {
                case RSA -> {
                    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
                    g.initialize(2048);
                    yield g.generateKeyPair();
                }
                case EC_P256, EC_P384 -> {
                    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
                    g.initialize(new ECGenParameterSpec(kind == KeyKind.EC_P256 ? "secp256r1" : "secp384r1"));
                    yield g.generateKeyPair();
                }
                case ED25519 -> KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
            };
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Issued ca(String cn) {
        KeyPair keys = keyPair(KeyKind.EC_P384);
        X500Name name = new X500Name("O=pggat tests,CN=" + cn);
        return new Issued(build(name, keys, name, keys.getPrivate(), "SHA384withECDSA", true, List.of(), null), keys);
    }

    /**
     * A server certificate for DNS names and IP addresses (both go to subjectAltName), signed by {@code ca} (an EC
     * key) with {@code sigAlg}.
     */
    static Issued server(Issued ca, String cn, List<String> names, KeyKind kind, String sigAlg) {
        KeyPair keys = keyPair(kind);
        return new Issued(
                build(
                        new X500Name("CN=" + cn),
                        keys,
                        subject(ca),
                        ca.key(),
                        sigAlg,
                        false,
                        names,
                        KeyPurposeId.id_kp_serverAuth),
                keys);
    }

    static Issued server(Issued ca, List<String> names) {
        return server(ca, names.get(0), names, KeyKind.EC_P256, "SHA256withECDSA");
    }

    /** A client certificate whose CN (and optionally DNS SANs) name a user. */
    static Issued client(Issued ca, String cn, List<String> dnsNames) {
        KeyPair keys = keyPair(KeyKind.EC_P256);
        return new Issued(
                build(
                        new X500Name("CN=" + cn),
                        keys,
                        subject(ca),
                        ca.key(),
                        "SHA384withECDSA",
                        false,
                        dnsNames,
                        KeyPurposeId.id_kp_clientAuth),
                keys);
    }

    /** A client certificate valid only between {@code notBefore} and {@code notAfter} (an expired one, say). */
    static Issued client(Issued ca, String cn, Instant notBefore, Instant notAfter) {
        KeyPair keys = keyPair(KeyKind.EC_P256);
        return new Issued(
                build(
                        new X500Name("CN=" + cn),
                        keys,
                        subject(ca),
                        ca.key(),
                        "SHA384withECDSA",
                        false,
                        List.of(),
                        KeyPurposeId.id_kp_clientAuth,
                        notBefore,
                        notAfter),
                keys);
    }

    /** A self-signed certificate of a key of {@code kind}, signed with {@code sigAlg}. */
    static X509Certificate selfSignedWith(KeyKind kind, String sigAlg) {
        KeyPair keys = keyPair(kind);
        X500Name name = new X500Name("CN=test " + sigAlg);
        return build(name, keys, name, keys.getPrivate(), sigAlg, false, List.of("localhost"), null);
    }

    private static X500Name subject(Issued ca) {
        return X500Name.getInstance(ca.cert().getSubjectX500Principal().getEncoded());
    }

    private static X509Certificate build(
            X500Name subject,
            KeyPair keys,
            X500Name issuer,
            PrivateKey issuerKey,
            String sigAlg,
            boolean isCa,
            List<String> names,
            KeyPurposeId purpose) {
        Instant now = Instant.now();
        return build(
                subject,
                keys,
                issuer,
                issuerKey,
                sigAlg,
                isCa,
                names,
                purpose,
                now.minus(Duration.ofHours(1)),
                now.plus(Duration.ofDays(30)));
    }

    private static X509Certificate build(
            X500Name subject,
            KeyPair keys,
            X500Name issuer,
            PrivateKey issuerKey,
            String sigAlg,
            boolean isCa,
            List<String> names,
            KeyPurposeId purpose,
            Instant notBefore,
            Instant notAfter) {
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                    issuer,
                    new BigInteger(64, RANDOM).add(BigInteger.ONE),
                    Date.from(notBefore),
                    Date.from(notAfter),
                    subject,
                    keys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
            if (isCa) {
                b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                int usage = KeyUsage.digitalSignature;
                String alg = keys.getPublic().getAlgorithm();
                usage |= alg.equals("RSA") ? KeyUsage.keyEncipherment : alg.equals("EC") ? KeyUsage.keyAgreement : 0;
                b.addExtension(Extension.keyUsage, true, new KeyUsage(usage));
            }
            if (purpose != null) {
                b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
            }
            if (!names.isEmpty()) {
                List<GeneralName> sans = new ArrayList<>();
                for (String n : names) {
                    boolean ip = n.matches("[0-9.]+") || n.contains(":");
                    sans.add(new GeneralName(ip ? GeneralName.iPAddress : GeneralName.dNSName, n));
                }
                b.addExtension(
                        Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
            }
            JcaContentSignerBuilder sb = sigAlg.equals("RSASSA-PSS")
                    // The JDK signs PSS only under the bare name; BouncyCastle (unregistered) signs it here.
                    ? new JcaContentSignerBuilder(
                                    sigAlg, new PSSParameterSpec("SHA-384", "MGF1", MGF1ParameterSpec.SHA384, 48, 1))
                            .setProvider(new BouncyCastleProvider())
                    : new JcaContentSignerBuilder(sigAlg);
            ContentSigner signer = sb.build(issuerKey);
            return new JcaX509CertificateConverter().getCertificate(b.build(signer));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static String pem(Object... objects) {
        StringWriter sw = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(sw)) {
            for (Object o : objects) {
                w.writeObject(o);
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return sw.toString();
    }

    static Path writeCerts(Path file, X509Certificate... certs) throws IOException {
        Files.writeString(file, pem((Object[]) certs), StandardCharsets.US_ASCII);
        return file;
    }

    /** "BEGIN PRIVATE KEY". */
    static Path writeKeyPkcs8(Path file, PrivateKey key) throws IOException {
        Files.writeString(file, pkcs8Pem(key), StandardCharsets.US_ASCII);
        return file;
    }

    static String pkcs8Pem(PrivateKey key) {
        try {
            return pem(new JcaPKCS8Generator(key, null).generate());
        } catch (PemGenerationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** "BEGIN RSA PRIVATE KEY" (PKCS#1) or "BEGIN EC PRIVATE KEY" (SEC1), openssl's traditional format. */
    static Path writeKeyTraditional(Path file, PrivateKey key) throws IOException {
        Object k = key;
        if (key.getAlgorithm().equals("EC")) {
            // The JDK's encoding leaves the curve out of the inner SEC1 structure; openssl and cert-manager put it
            // in, and so does BouncyCastle's (used here unregistered, only to re-encode).
            try {
                k = KeyFactory.getInstance("EC", new BouncyCastleProvider())
                        .generatePrivate(new PKCS8EncodedKeySpec(key.getEncoded()));
            } catch (GeneralSecurityException e) {
                throw new IOException(e);
            }
        }
        Files.writeString(file, pem(k), StandardCharsets.US_ASCII);
        return file;
    }
}
