package dev.pggat.crds.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class DatabaseSpec {
    @Required
    @JsonPropertyDescription("The database name clients connect to.")
    public String name;

    @JsonPropertyDescription("The database name on the server. Default: name.")
    public String serverDatabase;

    @Required
    @Size(min = 1)
    @JsonPropertyDescription(
            "Users that may log in to this database; the same name and password are used on the" + " server.")
    public List<UserSpec> users = new ArrayList<>();

    public DatabaseSpec() {}

    public DatabaseSpec(String name, List<UserSpec> users) {
        this.name = name;
        this.users = users;
    }
}
