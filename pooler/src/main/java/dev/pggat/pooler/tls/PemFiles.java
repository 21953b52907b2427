package dev.pggat.pooler.tls;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x9.X9ECParameters;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * Reads PEM files as Kubernetes TLS Secrets and cert-manager write them: certificate chains (leaf first) and
 * unencrypted private keys in PKCS#8 ({@code BEGIN PRIVATE KEY}), PKCS#1 ({@code BEGIN RSA PRIVATE KEY}) or SEC1
 * ({@code BEGIN EC PRIVATE KEY}) form. Errors name the file and the problem; parser messages are left out of key
 * file errors because they could echo parts of the key.
 */
public final class PemFiles {
    private static final String KEY_FORMATS =
            "expected an unencrypted PEM block 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY' or 'BEGIN EC PRIVATE KEY'";

    private PemFiles() {}

    /** All certificates in the file, in file order; at least one. */
    public static List<X509Certificate> readCertificates(Path file) throws TlsConfigException {
        return parseCertificates(read(file, "certificate"), file.toString());
    }

    /** Certificates from PEM text; {@code source} names it in errors. */
    public static List<X509Certificate> parseCertificates(String pem, String source) throws TlsConfigException {
        List<X509Certificate> certs = new ArrayList<>();
        JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o;
            while ((o = parser.readObject()) != null) {
                if (o instanceof X509CertificateHolder holder) {
                    certs.add(converter.getCertificate(holder));
                }
            }
        } catch (IOException | CertificateException | RuntimeException e) {
            throw new TlsConfigException(
                    "certificate file " + source + " is not valid PEM: " + e.getMessage() + " (expected one or more"
                            + " 'BEGIN CERTIFICATE' blocks)",
                    e);
        }
        if (certs.isEmpty()) {
            throw new TlsConfigException(
                    "certificate file " + source + " holds no certificate (expected one or more 'BEGIN CERTIFICATE'"
                            + " blocks, the server's own certificate first)");
        }
        return List.copyOf(certs);
    }

    /** The one private key in the file. */
    public static PrivateKey readPrivateKey(Path file) throws TlsConfigException {
        return parsePrivateKey(read(file, "private key"), file.toString());
    }

    /** A private key from PEM text; {@code source} names it in errors. */
    public static PrivateKey parsePrivateKey(String pem, String source) throws TlsConfigException {
        PrivateKey key = null;
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try (Reader r = new StringReader(pem);
                PEMParser parser = new PEMParser(r)) {
            Object o;
            while ((o = parser.readObject()) != null) {
                PrivateKey found;
                if (o instanceof PrivateKeyInfo info) {
                    found = converter.getPrivateKey(info);
                } else if (o instanceof PEMKeyPair pair) {
                    found = converter.getPrivateKey(pair.getPrivateKeyInfo());
                } else if (o instanceof PKCS8EncryptedPrivateKeyInfo || o instanceof PEMEncryptedKeyPair) {
                    throw new TlsConfigException("private key file " + source
                            + " holds an encrypted key; pggat needs it unencrypted (as in a Kubernetes TLS Secret)");
                } else if (o instanceof ASN1ObjectIdentifier || o instanceof X9ECParameters) {
                    // "BEGIN EC PARAMETERS" that openssl ecparam writes before the key.
                    continue;
                } else {
                    continue;
                }
                if (key != null) {
                    throw new TlsConfigException(
                            "private key file " + source + " holds more than one private key; keep only the one"
                                    + " that belongs to the certificate");
                }
                key = found;
            }
        } catch (TlsConfigException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new TlsConfigException("private key file " + source + " could not be parsed ("
                    + e.getClass().getSimpleName() + "); " + KEY_FORMATS);
        }
        if (key == null) {
            throw new TlsConfigException("private key file " + source + " holds no private key; " + KEY_FORMATS);
        }
        return key;
    }

    /**
     * Checks that {@code key} belongs to {@code certificate} by signing a random challenge: catches a key and a
     * certificate from different rotations before any client sees the mismatch as a failed handshake.
     */
    public static void checkKeyMatches(PrivateKey key, X509Certificate certificate, String keySource, String certSource)
            throws TlsConfigException {
        String algorithm;
        Signature signer;
        try {
            switch (key.getAlgorithm()) {
                case "RSA" -> algorithm = "SHA256withRSA";
                case "EC" -> algorithm = "SHA256withECDSA";
                case "DSA" -> algorithm = "SHA256withDSA";
                case "Ed25519", "Ed448", "EdDSA" -> algorithm = key.getAlgorithm();
                case "RSASSA-PSS" -> algorithm = "RSASSA-PSS";
                default -> {
                    return; // unknown key type: the handshake will tell
                }
            }
            signer = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
            }
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            signer.initSign(key);
            signer.update(challenge);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                verifier.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
            }
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(challenge);
            if (verifier.verify(signature)) {
                return;
            }
        } catch (GeneralSecurityException e) {
            // A key of another type than the certificate's ends here too.
        }
        throw new TlsConfigException("private key in " + keySource + " does not belong to the certificate in "
                + certSource + " (" + certificate.getSubjectX500Principal().getName() + "); the two files must"
                + " come from the same issuance");
    }

    private static String read(Path file, String what) throws TlsConfigException {
        try {
            // Latin-1 never fails to decode: a binary (DER) file then simply holds no PEM block and gets that message.
            return new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException e) {
            throw new TlsConfigException(what + " file " + file + " does not exist");
        } catch (IOException e) {
            throw new TlsConfigException(
                    what + " file " + file + " cannot be read: " + e.getClass().getSimpleName()
                            + (what.contains("key") ? "" : ": " + e.getMessage()),
                    e);
        }
    }
}
