# Multi-stage build: the SDK image publishes, the ASP.NET runtime image runs as a non-root user.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /source
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/ src/
RUN dotnet publish src/Gateway/Gateway.csproj -c Release -o /app --no-self-contained

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# The runtime image's built-in unprivileged user.
USER $APP_UID
ENV ASPNETCORE_URLS=http://0.0.0.0:40010 \
    DOTNET_gcServer=0
EXPOSE 40010
ENTRYPOINT ["dotnet", "Gateway.dll"]
