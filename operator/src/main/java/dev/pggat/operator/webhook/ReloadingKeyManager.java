package dev.pggat.operator.webhook;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * A key manager whose key and certificate can be swapped while the server runs: each new TLS handshake uses the
 * latest, connections already open keep theirs. Until the first {@link #update} it offers nothing, so handshakes
 * fail rather than present a wrong certificate.
 */
public final class ReloadingKeyManager extends X509ExtendedKeyManager {
    private static final String ALIAS = "webhook";

    private volatile WebhookPki.Identity identity;

    public void update(WebhookPki.Identity identity) {
        this.identity = identity;
    }

    public WebhookPki.Identity current() {
        return identity;
    }

    public boolean loaded() {
        return identity != null;
    }

    private String aliasFor(String keyType) {
        WebhookPki.Identity id = identity;
        return id != null && (keyType == null || keyType.equals(id.key().getAlgorithm())) ? ALIAS : null;
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return aliasFor(keyType);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return aliasFor(keyType);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        String a = aliasFor(keyType);
        return a == null ? null : new String[] {a};
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        WebhookPki.Identity id = identity;
        return id == null || !ALIAS.equals(alias) ? null : id.chain().toArray(new X509Certificate[0]);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        WebhookPki.Identity id = identity;
        return id == null || !ALIAS.equals(alias) ? null : id.key();
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return null;
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return null;
    }
}
