package dev.pggat.pooler.config;

import java.util.List;

/** Every problem found in a configuration, so a user can fix them all in one go. */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("\n", problems));
        if (problems.isEmpty()) {
            throw new IllegalArgumentException("a ConfigException needs at least one problem");
        }
        this.problems = List.copyOf(problems);
    }

    /** One entry per problem, each formatted {@code <file>: <key.path>: <what is wrong> (value '...'; accepted: ...)}. */
    public List<String> problems() {
        return problems;
    }
}
