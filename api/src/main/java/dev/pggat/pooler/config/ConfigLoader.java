package dev.pggat.pooler.config;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Loads the pooler's YAML configuration. Nothing is partially applied: either every value is valid and defaults
 * are filled in, or one {@link ConfigException} lists every problem found.
 */
public final class ConfigLoader {
    private ConfigLoader() {}

    /**
     * Reads {@code file} as UTF-8, substitutes {@code ${VAR}} / {@code ${VAR:-default}} from {@code env} in scalar
     * values (after YAML parsing, so values with special characters cannot break the YAML), applies defaults,
     * validates everything, and throws one ConfigException listing every problem found.
     */
    public static PoolerConfig load(Path file, Map<String, String> env) throws ConfigException {
        Objects.requireNonNull(file, "file");
        String source = file.toString();
        String yaml;
        try {
            yaml = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException(List.of(source + ": cannot read the configuration file: it does not exist"));
        } catch (AccessDeniedException e) {
            throw new ConfigException(List.of(source + ": cannot read the configuration file: permission denied"));
        } catch (CharacterCodingException e) {
            throw new ConfigException(List.of(source + ": cannot read the configuration file: it is not UTF-8 text"));
        } catch (IOException e) {
            throw new ConfigException(List.of(source + ": cannot read the configuration file: "
                    + e.getClass().getSimpleName()));
        }
        return parse(yaml, source, env);
    }

    /**
     * Like {@link #load} for YAML text already in memory; {@code sourceName} stands for the file name in messages.
     * Handy to build a configuration in code, e.g. for the demo or tests.
     */
    public static PoolerConfig parse(String yaml, String sourceName, Map<String, String> env) throws ConfigException {
        Objects.requireNonNull(yaml, "yaml");
        Objects.requireNonNull(sourceName, "sourceName");
        Objects.requireNonNull(env, "env");
        Problems problems = new Problems(sourceName);
        YamlTree.Node root = YamlTree.read(yaml, problems);
        PoolerConfig config = root == null ? null : new ConfigBinder(problems, env).bind(root);
        problems.throwIfAny();
        if (config == null) {
            // Every path that yields no config reports why; this guards against a silent gap.
            throw new ConfigException(List.of(sourceName + ": no configuration could be read"));
        }
        return config;
    }
}
