package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class TlsSpec {
    @Default("prefer")
    @JsonPropertyDescription("disable, allow, prefer or require TLS from clients. Default prefer.")
    public TlsMode mode;

    @JsonPropertyDescription("A kubernetes.io/tls Secret (tls.crt, tls.key) with the pooler's certificate.")
    public TlsSecretRef secretRef;

    @Default("false")
    @JsonPropertyDescription("Generate a self-signed certificate when secretRef is unset. Default false.")
    public Boolean selfSigned;
}
