package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "!has(self.minServerConnections) || !has(self.maxServerConnections)"
                + " || self.minServerConnections <= self.maxServerConnections",
        message = "pool.minServerConnections must not exceed pool.maxServerConnections")
public class PoolSpec {
    @Default("transaction")
    @JsonPropertyDescription("transaction: a server connection is lent for one transaction; session: for the whole"
            + " client session. Default transaction.")
    public PoolMode mode;

    @Min(1)
    @JsonPropertyDescription("Most server connections per (database, user) pool in each pooler pod. Default 20.")
    public Integer maxServerConnections;

    @Min(0)
    @JsonPropertyDescription("Server connections kept open per (database, user) pool in each pooler pod. Default 0.")
    public Integer minServerConnections;

    @JsonPropertyDescription("Pool timeouts; each is a duration such as 500ms, 30s, 5m, 1h, or 0.")
    public PoolTimeouts timeouts;

    @Min(0)
    @JsonPropertyDescription("Most server connections to each database in each pooler pod, across its users; 0 is no"
            + " cap. Default 0.")
    public Integer maxDatabaseConnections;

    @Min(0)
    @JsonPropertyDescription("Server connections a pool may open beyond maxServerConnections once a client has"
            + " waited reservePoolTimeout; 0 is no reserve. Default 0.")
    public Integer reservePoolSize;

    @Pattern(Durations.PATTERN)
    @JsonPropertyDescription("How long the oldest waiting client waits before the reserve pool opens. Default 5s.")
    public String reservePoolTimeout;

    @Min(1)
    @JsonPropertyDescription("Prepared statements each server connection keeps for transaction-mode clients (least"
            + " recently used are closed past it). Default 1000.")
    public Integer preparedStatementCacheSize;
}
