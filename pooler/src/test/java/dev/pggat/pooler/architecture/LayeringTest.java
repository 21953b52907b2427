package dev.pggat.pooler.architecture;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;

/**
 * The pooler's packages follow the path a client connection walks, and a package may use only what comes after it:
 * {@code frontend} (client side) -> {@code listen} (the LISTEN stage and relay) -> {@code security} (auth and TLS at run time) -> {@code routing} -> {@code pool}
 * -> {@code backend} (server side). Beside the path, used by all of it and using none of it: {@code protocol} and
 * {@code sql} (which import nothing of the pooler at all), {@code auth} (I/O-free password crypto and rules),
 * {@code tls}, {@code config}, {@code net}, {@code util}. Around it, using it and used by nothing in it: the root
 * ({@code Pooler}), {@code cli}, {@code admin}, {@code metrics}, {@code stream}, {@code demo}. Top-level packages
 * have no cycles.
 *
 * <p>A failure names the class and the dependency that breaks the rule. Production classes only: tests may reach
 * anywhere.
 */
@AnalyzeClasses(packages = "dev.pggat.pooler", importOptions = ImportOption.DoNotIncludeTests.class)
class LayeringTest {
    private static final String P = "dev.pggat.pooler.";

    /** The root package itself (Pooler), not its subpackages. */
    private static final String ROOT = "dev.pggat.pooler";

    private static final String[] OUTER = {
        ROOT, P + "cli..", P + "admin..", P + "metrics..", P + "stream..", P + "demo.."
    };

    private static String[] outerAnd(String... more) {
        String[] all = new String[OUTER.length + more.length];
        System.arraycopy(OUTER, 0, all, 0, OUTER.length);
        System.arraycopy(more, 0, all, OUTER.length, more.length);
        return all;
    }

    @ArchTest
    static final ArchRule protocolImportsNothingOfThePooler = noClasses()
            .that()
            .resideInAPackage(P + "protocol..")
            .should()
            .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAPackage(P + "protocol.."))))
            .because("protocol is the wire format only");

    @ArchTest
    static final ArchRule sqlImportsNothingOfThePooler = noClasses()
            .that()
            .resideInAPackage(P + "sql..")
            .should()
            .dependOnClassesThat(resideInAPackage(ROOT + "..").and(not(resideInAPackage(P + "sql.."))))
            .because("the SQL lexer is text only, used by routing and frontend alike");

    @ArchTest
    static final ArchRule backendUsesNothingAboveIt = noClasses()
            .that()
            .resideInAPackage(P + "backend..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    outerAnd(P + "frontend..", P + "listen..", P + "security..", P + "routing..", P + "pool.."))
            .because("backend is the end of the path: server connections, their login and queries");

    @ArchTest
    static final ArchRule poolUsesOnlyBackendOfThePath = noClasses()
            .that()
            .resideInAPackage(P + "pool..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(outerAnd(P + "frontend..", P + "listen..", P + "security..", P + "routing.."))
            .because("a pool lends server connections and knows nothing of clients or routes");

    @ArchTest
    static final ArchRule routingUsesOnlyPoolAndBackendOfThePath = noClasses()
            .that()
            .resideInAPackage(P + "routing..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(outerAnd(P + "frontend..", P + "listen..", P + "security.."))
            .because("routing picks a pool for a client's work; the client side calls it, not the other way round");

    @ArchTest
    static final ArchRule securityUsesNothingOfTheClientSide = noClasses()
            .that()
            .resideInAPackage(P + "security..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(outerAnd(P + "frontend..", P + "listen.."))
            .because("the run-time auth bundle serves the client side, which depends on it");

    @ArchTest
    static final ArchRule listenUsesNothingOfTheClientSession = noClasses()
            .that()
            .resideInAPackage(P + "listen..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(outerAnd(P + "frontend.."))
            .because("the LISTEN stage and relay see their session through ListenStage.Session, so the session"
                    + " (frontend) depends on them and not the other way round");

    @ArchTest
    static final ArchRule frontendUsesNothingAroundThePath = noClasses()
            .that()
            .resideInAPackage(P + "frontend..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(OUTER)
            .because("the client side is used by the pooler's wiring, metrics and stream, not the other way round");

    @ArchTest
    static final ArchRule besideThePathUsesNoneOfIt = noClasses()
            .that()
            .resideInAnyPackage(P + "auth..", P + "tls..", P + "config..", P + "net..", P + "util..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(outerAnd(
                    P + "frontend..", P + "listen..", P + "security..", P + "routing..", P + "pool..", P + "backend.."))
            .because("auth, tls, config, net and util are used by every part of the path and use none of it");

    @ArchTest
    static final ArchRule onlyTheCommandLineStartsThePooler = noClasses()
            .that(resideInAPackage(ROOT + "..").and(not(resideInAnyPackage(ROOT, P + "cli.."))))
            .should()
            .dependOnClassesThat()
            .resideInAPackage(ROOT)
            .because("Pooler wires everything together; nothing it wires may depend on it");

    /** ByteBuf reads at an absolute index: the offset arithmetic that belongs to the protocol views. */
    private static final java.util.regex.Pattern ABSOLUTE_READ =
            java.util.regex.Pattern.compile("get(Byte|UnsignedByte|Short|UnsignedShort|ShortLE|Medium|UnsignedMedium"
                    + "|Int|UnsignedInt|IntLE|Long|LongLE|Char|Float|Double|Bytes|CharSequence|Boolean)");

    private static final DescribedPredicate<JavaMethodCall> READS_AT_AN_OFFSET = DescribedPredicate.describe(
            "read a ByteBuf at an offset (getByte, getInt, ... or ByteBufUtil.getBytes(buf, index, length))", call -> {
                JavaClass owner = call.getTargetOwner();
                if (owner.isAssignableTo(ByteBuf.class)) {
                    return ABSOLUTE_READ.matcher(call.getName()).matches();
                }
                return owner.isEquivalentTo(ByteBufUtil.class)
                        && call.getName().equals("getBytes")
                        && call.getTarget().getRawParameterTypes().size() > 1;
            });

    /**
     * Message bodies are read through the typed views of {@code protocol} ({@code Parse.statementName(frame)},
     * {@code DataRow.column(frame, i)}, ...), which check every read against the frame's end; nothing else does
     * offset arithmetic on them. Beside protocol: {@code sql} reads the text range a view hands it, and {@code tls}
     * peeks at raw TLS records, which are not PostgreSQL messages.
     */
    @ArchTest
    static final ArchRule onlyProtocolReadsMessageBodiesAtOffsets = noClasses()
            .that()
            .resideOutsideOfPackages(P + "protocol..", P + "sql..", P + "tls..")
            .should()
            .callMethodWhere(READS_AT_AN_OFFSET)
            .because("offsets into a message belong to the protocol views");

    /**
     * Documented exception, frozen: {@code auth.AuthRules} reads the rule records of {@code config} while {@code
     * config} holds {@code auth.Secret} and {@code auth.Cidr}, a cycle that goes away when the configuration model
     * moves to its own module (so that operator and pooler share it). Only that one direction is ignored here; any
     * other cycle fails.
     */
    @ArchTest
    static final ArchRule topLevelPackagesHaveNoCycles = slices().matching(P + "(*)..")
            .should()
            .beFreeOfCycles()
            .ignoreDependency(resideInAPackage(P + "auth.."), resideInAPackage(P + "config.."));
}
