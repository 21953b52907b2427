package dev.pggat.pooler.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigConsoleUsersTest {
    private static final String DATABASES = """
            databases:
              app:
                endpoints:
                  - host: 127.0.0.1
                    port: 5432
                users:
                  app:
                    password: secret
            """;

    @Test
    void consoleUsersAreReadAsAListOrASingleName() throws Exception {
        PoolerConfig c = ConfigLoader.parse(
                "admin:\n  users: [ops, admin]\n  statsUsers: monitoring\n" + DATABASES, "test.yaml", Map.of());
        assertThat(c.admin().users()).containsExactly("ops", "admin");
        assertThat(c.admin().statsUsers()).containsExactly("monitoring");
        assertThat(c.admin().console()).isTrue();
    }

    @Test
    void withoutConsoleUsersThereIsNoConsole() throws Exception {
        PoolerConfig c = ConfigLoader.parse(DATABASES, "test.yaml", Map.of());
        assertThat(c.admin().users()).isEmpty();
        assertThat(c.admin().statsUsers()).isEmpty();
        assertThat(c.admin().console()).isFalse();
    }

    @Test
    void aNameWithWhitespaceIsRefusedWithFileKeyAndValue() {
        assertThatThrownBy(() -> ConfigLoader.parse(
                        "admin:\n  users: [ops, \"two words\"]\n" + DATABASES, "test.yaml", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("test.yaml")
                .hasMessageContaining("admin.users[1]")
                .hasMessageContaining("two words")
                .hasMessageContaining("a user name or a list of user names");
        assertThatThrownBy(
                        () -> ConfigLoader.parse("admin:\n  statsUsers: {a: b}\n" + DATABASES, "test.yaml", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("admin.statsUsers");
    }
}
