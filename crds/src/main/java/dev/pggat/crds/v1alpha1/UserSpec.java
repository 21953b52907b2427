package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class UserSpec {
    @Required
    @JsonPropertyDescription("The user name clients log in as, and the user on the server.")
    public String name;

    @Required
    @JsonPropertyDescription("The Secret key holding this user's password in plain text. The operator never reads"
            + " it: the pooler pods receive it as an environment variable.")
    public SecretKeyRef passwordSecretRef;

    public UserSpec() {}

    public UserSpec(String name, SecretKeyRef passwordSecretRef) {
        this.name = name;
        this.passwordSecretRef = passwordSecretRef;
    }
}
