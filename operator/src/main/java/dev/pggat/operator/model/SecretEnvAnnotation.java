package dev.pggat.operator.model;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The pooler ConfigMap's record of which Secret key feeds each {@code ${VAR}} of its config, as {@code
 * VAR=secret/key,VAR=secret/key}. Secret names (DNS subdomains), Secret keys ({@code [-._a-zA-Z0-9]+}) and the
 * variables can hold none of {@code = / ,}, so the form needs no escaping and stays readable in {@code kubectl get
 * -o yaml}.
 */
public final class SecretEnvAnnotation {
    private static final Pattern ENTRY = Pattern.compile("([A-Z_][A-Z0-9_]*)=([a-z0-9.-]+)/([-._a-zA-Z0-9]+)");

    private SecretEnvAnnotation() {}

    public static String encode(List<PoolerConfig.SecretEnv> env) {
        StringBuilder b = new StringBuilder();
        for (PoolerConfig.SecretEnv e : env) {
            if (b.length() > 0) {
                b.append(',');
            }
            b.append(e.variable())
                    .append('=')
                    .append(e.secretName())
                    .append('/')
                    .append(e.secretKey());
        }
        return b.toString();
    }

    /** @throws IllegalArgumentException naming the entry that is not {@code VAR=secret/key} */
    public static List<PoolerConfig.SecretEnv> decode(String value) {
        List<PoolerConfig.SecretEnv> out = new ArrayList<>();
        if (value == null || value.isEmpty()) {
            return out;
        }
        for (String entry : value.split(",", -1)) {
            Matcher m = ENTRY.matcher(entry);
            if (!m.matches()) {
                throw new IllegalArgumentException(
                        "entry \"" + entry + "\" is not VAR=secret/key (VAR: A-Z 0-9 _; secret: a DNS name;"
                                + " key: letters, digits, - . _)");
            }
            out.add(new PoolerConfig.SecretEnv(m.group(1), m.group(2), m.group(3)));
        }
        return out;
    }
}
