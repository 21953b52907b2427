package dev.pggat.operator.model;

import dev.pggat.crds.v1alpha1.DatabaseSpec;
import dev.pggat.crds.v1alpha1.UserSpec;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Which databases and users the pooler serves. Only non-secret keys (user and database names) are ever decoded
 * here; passwords stay in their Secrets and reach the pooler pods as environment variables.
 */
public final class Credentials {
    public static final String DEFAULT_PASSWORD_KEY = "password";

    private Credentials() {}

    public static List<PoolerDatabase> ofSpec(List<DatabaseSpec> databases) {
        List<PoolerDatabase> out = new ArrayList<>();
        for (int i = 0; i < databases.size(); i++) {
            DatabaseSpec db = databases.get(i);
            String where = "spec.databases[" + i + "]";
            if (db.name == null || db.name.isBlank()) {
                throw Problem.invalid("InvalidSpec", where + ".name is required");
            }
            if (db.users == null || db.users.isEmpty()) {
                throw Problem.invalid("InvalidSpec", where + ".users needs at least one user");
            }
            List<PoolerDatabase.PoolerUser> users = new ArrayList<>();
            for (int j = 0; j < db.users.size(); j++) {
                UserSpec u = db.users.get(j);
                String uwhere = where + ".users[" + j + "]";
                if (u.name == null || u.name.isBlank()) {
                    throw Problem.invalid("InvalidSpec", uwhere + ".name is required");
                }
                if (u.passwordSecretRef == null || u.passwordSecretRef.name == null) {
                    throw Problem.invalid("InvalidSpec", uwhere + ".passwordSecretRef.name is required");
                }
                String key = u.passwordSecretRef.key == null ? DEFAULT_PASSWORD_KEY : u.passwordSecretRef.key;
                users.add(new PoolerDatabase.PoolerUser(u.name, u.passwordSecretRef.name, key));
            }
            out.add(new PoolerDatabase(
                    db.name, db.serverDatabase == null ? db.name : db.serverDatabase, List.copyOf(users)));
        }
        return out;
    }

    public static String cnpgAppSecretName(String cluster) {
        return cluster + "-app";
    }

    /** CloudNativePG writes the application database's owner credentials to {@code <cluster>-app}. */
    public static List<PoolerDatabase> ofCnpgAppSecret(String cluster, Secret secret) {
        String name = cnpgAppSecretName(cluster);
        if (secret == null) {
            throw Problem.waiting(
                    "SecretNotFound",
                    "Secret " + name + " of CloudNativePG Cluster " + cluster
                            + " does not exist yet; list spec.databases to name other credentials");
        }
        String user = plain(secret, "username");
        String db = plain(secret, "dbname");
        if (user == null || db == null || !hasKey(secret, DEFAULT_PASSWORD_KEY)) {
            throw Problem.invalid(
                    "SecretIncomplete",
                    "Secret " + name + " needs the keys username, password and dbname (CloudNativePG's layout)");
        }
        return List.of(new PoolerDatabase(db, db, List.of(new PoolerDatabase.PoolerUser(user, name, "password"))));
    }

    /** Zalando names the Secret of each role after the role, with underscores turned into dashes. */
    public static String zalandoSecretName(String cluster, String user) {
        return user.replace('_', '-') + "." + cluster + ".credentials.postgresql.acid.zalan.do";
    }

    /** One database per entry of the Zalando cluster's {@code spec.databases} (name -> owner), owner as user. */
    public static List<PoolerDatabase> ofZalando(GenericKubernetesResource cluster, Function<String, Secret> secrets) {
        String clusterName = cluster.getMetadata().getName();
        Map<String, Object> spec =
                Topologies.map(cluster.getAdditionalProperties().get("spec"));
        Map<String, Object> dbs = new TreeMap<>(Topologies.map(spec.get("databases")));
        if (dbs.isEmpty()) {
            throw Problem.invalid(
                    "NoDatabases",
                    "Zalando cluster " + clusterName + " has no spec.databases; list spec.databases in the PgPool");
        }
        List<PoolerDatabase> out = new ArrayList<>();
        for (Map.Entry<String, Object> e : dbs.entrySet()) {
            String owner = String.valueOf(e.getValue());
            String secretName = zalandoSecretName(clusterName, owner);
            Secret secret = secrets.apply(secretName);
            if (secret == null) {
                throw Problem.waiting(
                        "SecretNotFound",
                        "Secret " + secretName + " (owner of database " + e.getKey() + ") does not exist yet");
            }
            if (!hasKey(secret, DEFAULT_PASSWORD_KEY)) {
                throw Problem.invalid("SecretIncomplete", "Secret " + secretName + " has no key password");
            }
            out.add(new PoolerDatabase(
                    e.getKey(), e.getKey(), List.of(new PoolerDatabase.PoolerUser(owner, secretName, "password"))));
        }
        return out;
    }

    public static boolean hasKey(Secret secret, String key) {
        return (secret.getData() != null && secret.getData().containsKey(key))
                || (secret.getStringData() != null && secret.getStringData().containsKey(key));
    }

    private static String plain(Secret secret, String key) {
        if (secret.getStringData() != null && secret.getStringData().containsKey(key)) {
            return secret.getStringData().get(key);
        }
        if (secret.getData() != null && secret.getData().containsKey(key)) {
            return new String(Base64.getDecoder().decode(secret.getData().get(key)), StandardCharsets.UTF_8);
        }
        return null;
    }
}
