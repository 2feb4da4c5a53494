// The jwt-bearer flow of examples/web_api, written against the AWS SDK for JavaScript v3:
// CreateTokenWithIAM for the user's identity-provider token, then once more with the refresh
// token. Nothing in it knows about ssooidc: the client takes its endpoint, region and
// credentials from the AWS_* variables, as it would on AWS.
//
//   node exchange.mjs <application ARN> <the user's ID token from the identity provider>
//
// Prints one JSON line; a refusal prints the error's name and description and exits 1.
import {
  CreateTokenWithIAMCommand,
  SSOOIDCClient,
  SSOOIDCServiceException,
} from "@aws-sdk/client-sso-oidc";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

async function main([clientId, assertion]) {
  const oidc = new SSOOIDCClient({ maxAttempts: 1 });
  const tokens = await oidc.send(
    new CreateTokenWithIAMCommand({ clientId, grantType: JWT_BEARER, assertion }),
  );
  const refreshed = await oidc.send(
    new CreateTokenWithIAMCommand({
      clientId,
      grantType: "refresh_token",
      refreshToken: tokens.refreshToken,
    }),
  );
  const idToken = claims(refreshed.idToken);
  return {
    user: idToken.sub,
    application: idToken["aws:application_arn"],
    scope: tokens.scope,
    refreshTokenRotated: refreshed.refreshToken !== tokens.refreshToken,
    identityContext: refreshed.awsAdditionalDetails.identityContext,
  };
}

try {
  console.log(JSON.stringify(await main(process.argv.slice(2))));
} catch (error) {
  if (!(error instanceof SSOOIDCServiceException)) throw error;
  console.error(`${error.name}: ${error.error_description ?? error.message}`);
  process.exitCode = 1;
}
