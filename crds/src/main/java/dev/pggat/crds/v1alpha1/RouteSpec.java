package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
        value = "has(self.database) != has(self.error)",
        message = "a route has exactly one of database and error")
public class RouteSpec {
    @Required
    @Size(min = 1, max = 63)
    @JsonPropertyDescription("Unique among the routes; names the route in the pooler's logs and metrics.")
    public String name;

    @JsonPropertyDescription("Which clients the route takes; every condition given must hold. Empty: every client.")
    public RouteMatchSpec match;

    @JsonPropertyDescription("The database (a name of spec.databases, or of the databases the cluster's Secrets"
            + " describe) the clients go to. Exactly one of database and error.")
    public String database;

    @JsonPropertyDescription("Refuse the clients with this error instead. Exactly one of database and error.")
    public RouteErrorSpec error;

    @JsonPropertyDescription("Startup parameters set for these clients whatever they send, like statement_timeout:"
            + " 30s. They hold across transaction-mode checkouts, as the client's own settings do.")
    public Map<String, String> setParameters = new LinkedHashMap<>();

    @JsonPropertyDescription("Startup parameters set for these clients when they send none themselves.")
    public Map<String, String> defaultParameters = new LinkedHashMap<>();

    @JsonPropertyDescription("Startup parameters removed from what these clients send, like options.")
    public List<String> dropParameters = new ArrayList<>();

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class RouteMatchSpec {
        @JsonPropertyDescription("The client's application_name; * matches any text (reporting-*).")
        public String applicationName;

        @JsonPropertyDescription("The user the client logs in as; * matches any text.")
        public String user;

        @JsonPropertyDescription("The database the client names; * matches any text.")
        public String database;
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static class RouteErrorSpec {
        @Required
        @Pattern("^[0-9A-Z]{5}$")
        @JsonPropertyDescription("The SQLSTATE the client gets, of an error class (not 00, 01 or 02), like 28000.")
        public String sqlstate;

        @Required
        @Size(min = 1, max = 1000)
        @JsonPropertyDescription("The message the client is shown.")
        public String message;
    }
}
