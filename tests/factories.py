import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from loomworks.roles import sync_role_permissions


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if not create or not extracted:
            return
        if not Group.objects.filter(name=extracted).exists():
            sync_role_permissions()
        self.groups.add(Group.objects.get(name=extracted))
        if extracted == "Owner":
            self.is_staff = True
            self.save(update_fields=["is_staff"])
