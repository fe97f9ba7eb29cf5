# Multi-stage build: the SDK image publishes the gateway as it ships (Gateway.csproj, for a runtime identifier:
# self-contained, one composite ReadyToRun image of the gateway, its packages and the framework, precompiled for a
# faster start and less compiling under the first load), and the runtime-deps image runs it as a non-root user.
# The SDK runs on the build machine's platform (no emulation) and cross-compiles for the target's.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# Set by BuildKit (docker buildx --platform linux/arm64); amd64 otherwise.
ARG TARGETARCH
WORKDIR /source
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/
RUN rid="linux-$([ "$TARGETARCH" = "arm64" ] && echo arm64 || echo x64)" \
 && dotnet publish src/Gateway/Gateway.csproj -c Release -o /app -r "$rid"

# Self-contained: the image needs the native libraries .NET uses, not a shared runtime. The runtime's own patches
# therefore come with a rebuild of this image (`docker build --pull`), not with a newer base image alone.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
WORKDIR /app
COPY --from=build /app ./
# The base image's built-in unprivileged user.
USER $APP_UID
# Plain text logs; for a log pipeline set Logging__Console__FormatterName=json (docs/operations.md).
# The GC and JIT settings are the build's (server GC with DATAS, non-concurrent; tiered PGO off: docs/configuration.md),
# as the benchmarks measure them (`--gateway-publish` runs this very publish).
ENV ASPNETCORE_URLS=http://0.0.0.0:40010
EXPOSE 40010
ENTRYPOINT ["./Gateway"]
