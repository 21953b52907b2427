package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TlsSpec {
    @Default("prefer")
    @JsonPropertyDescription("disable: no TLS; allow: TLS when secretRef is set; prefer: TLS for clients that ask"
            + " for it; require: plain-text clients are refused. prefer and require need secretRef or selfSigned."
            + " Default prefer. Without spec.tls the pooler serves no TLS.")
    public TlsMode mode;

    @JsonPropertyDescription("A kubernetes.io/tls Secret (tls.crt, tls.key) with the pooler's certificate, mounted"
            + " into pooler pods and sidecars; the pooler reloads it when the Secret changes, without a restart.")
    public TlsSecretRef secretRef;

    @Default("false")
    @JsonPropertyDescription("Each pooler makes its own self-signed certificate at start (mode prefer or require;"
            + " not together with secretRef). It encrypts, but clients cannot verify it. Default false.")
    public Boolean selfSigned;
}
