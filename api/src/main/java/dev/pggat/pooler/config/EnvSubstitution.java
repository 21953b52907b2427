package dev.pggat.pooler.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code ${VAR}} and {@code ${VAR:-default}} in scalar values, applied after YAML parsing so a substituted value
 * (a password with {@code :}, {@code #} or quotes) can never change the document's structure. Like the shell,
 * {@code :-} also uses the default when the variable is set but empty. {@code $${} is a literal {@code ${}; any
 * other {@code $} is kept as is. Substituted text is not scanned again.
 */
final class EnvSubstitution {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    static final String ACCEPTED_SYNTAX = "${NAME}, ${NAME:-default}, or $${ for a literal ${";

    /** The substituted text, or the reasons it could not be built. */
    record Result(String value, List<Failure> failures) {
        boolean ok() {
            return failures.isEmpty();
        }
    }

    record Failure(String what, String accepted) {}

    private EnvSubstitution() {}

    static Result apply(String text, Map<String, String> env) {
        if (text.indexOf('$') < 0) {
            return new Result(text, List.of());
        }
        StringBuilder out = new StringBuilder(text.length());
        List<Failure> failures = new ArrayList<>();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (c == '$' && text.startsWith("$${", i)) {
                out.append("${");
                i += 3;
            } else if (c == '$' && text.startsWith("${", i)) {
                int close = text.indexOf('}', i + 2);
                if (close < 0) {
                    failures.add(new Failure("has an unterminated '${'", ACCEPTED_SYNTAX));
                    break;
                }
                String inner = text.substring(i + 2, close);
                int sep = inner.indexOf(":-");
                String name = sep < 0 ? inner : inner.substring(0, sep);
                String fallback = sep < 0 ? null : inner.substring(sep + 2);
                if (!NAME.matcher(name).matches()) {
                    // The name is not echoed: in a password it may be part of the secret.
                    failures.add(new Failure(
                            "has an invalid environment variable name in '${...}'",
                            "names of letters, digits and '_' not starting with a digit, in " + ACCEPTED_SYNTAX));
                } else {
                    String value = env.get(name);
                    if (fallback != null && (value == null || value.isEmpty())) {
                        out.append(fallback);
                    } else if (value != null) {
                        out.append(value);
                    } else {
                        failures.add(new Failure(
                                "environment variable " + name + " is not set and has no default",
                                "set " + name + ", or give a default as ${" + name + ":-default}"));
                    }
                }
                i = close + 1;
            } else {
                out.append(c);
                i++;
            }
        }
        return new Result(failures.isEmpty() ? out.toString() : null, List.copyOf(failures));
    }
}
